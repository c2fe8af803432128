"""The playground in the browser (issue 21): a tool round trip by hand, an image attached to a
vision model, and the controls following the chosen model's features."""

from __future__ import annotations

import base64
import json

import pytest
from playwright.sync_api import Page, expect

from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db(transaction=True)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@pytest.fixture
def openai_credential(e2e):
    return CredentialFactory(
        workspace=e2e.workspace,
        name="Key A",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-e2e-playground"}),
        config={"base_url": e2e.fakes.base_url("openai")},
        masks={"api_key": "sk-…und"},
    )


def choose(page: Page, model: str) -> None:
    """Picks a model, then waits for its image and function section to arrive."""
    radio = page.locator(f'input[type=radio][value="{model}"]')
    if radio.is_checked():
        return
    with page.expect_response(lambda response: "/playground/?" in response.url):
        radio.check()
    swapping = "#playground-extras.htmx-request, #playground-extras.htmx-settling"
    expect(page.locator(swapping)).to_have_count(0)


def test_scenario_tool_round_trip_and_image(page: Page, e2e, openai_credential, shot):
    e2e.login(page, "member")
    page.goto(e2e.url("/playground/"))
    choose(page, "openai/gpt-4o-mini")

    page.get_by_text("Function calling (optional)").click()
    page.get_by_label("Function name").fill("get_weather")
    page.get_by_label("Function description").fill("The weather now in a city.")
    page.get_by_label("Parameters (JSON schema)").fill(
        '{"type": "object", "properties": {"city": {"type": "string"}}}'
    )
    page.get_by_role("textbox", name="Prompt", exact=True).fill("Paris")
    page.get_by_role("button", name="Run").click()

    expect(page.locator("#playground-state")).to_have_text("Waiting for the tool results.")
    call = page.locator("[data-tool-call]")
    expect(call).to_have_count(1)
    expect(call.locator("[data-tool-name]")).to_have_text("get_weather")
    expect(call.locator("[data-tool-arguments]")).to_have_text('{\n  "city": "Paris"\n}')
    shot("tool-call")

    page.get_by_role("button", name="Send results").click()  # no result yet
    expect(page.locator("#playground-error")).to_contain_text("Enter a result for each tool call.")
    expect(page.locator("[data-tool-call]")).to_have_count(1)  # still there to fill in

    page.get_by_label("Result of get_weather").fill('{"temperature": 18}')
    page.get_by_role("button", name="Send results").click()

    expect(page.locator("#playground-state")).to_have_text("Done.")
    expect(page.locator("#playground-answer")).to_have_text('Tool said: {"temperature": 18}')
    expect(page.locator("[data-tool-call]")).to_have_count(0)
    shot("tool-answer")

    # GPT-4 calls functions but reads no images: the image field goes when it is chosen.
    choose(page, "openai/gpt-4")
    expect(page.get_by_label("Image (optional)")).to_have_count(0)
    expect(page.get_by_label("Function name")).to_have_value("get_weather")  # kept

    choose(page, "openai/gpt-4o-mini")
    page.get_by_label("Image (optional)").set_input_files(
        {"name": "dot.png", "mimeType": "image/png", "buffer": PNG}
    )
    page.get_by_label("Function name").fill("")
    page.get_by_label("Function description").fill("")
    page.get_by_label("Parameters (JSON schema)").fill("")
    page.get_by_role("textbox", name="Prompt", exact=True).fill("What is this?")
    page.get_by_role("button", name="Run").click()

    expect(page.locator("#playground-state")).to_have_text("Done.")
    expect(page.locator("#playground-answer")).to_have_text("You said: What is this? [1 image(s)]")
    shot("image-answer")


def test_a_bad_schema_is_shown_and_nothing_runs(page: Page, e2e, openai_credential):
    e2e.login(page, "member")
    page.goto(e2e.url("/playground/"))
    choose(page, "openai/gpt-4o-mini")
    page.get_by_text("Function calling (optional)").click()
    page.get_by_label("Function name").fill("get_weather")
    page.get_by_label("Parameters (JSON schema)").fill('{"type": "object",}')
    page.get_by_role("textbox", name="Prompt", exact=True).fill("Paris")
    page.get_by_role("button", name="Run").click()

    expect(page.locator("#playground-error")).to_contain_text("The parameters are not valid JSON")
    expect(page.locator("#playground-state")).to_have_text("Not run.")
