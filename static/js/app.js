/* The console's own behaviour on top of htmx and Tabler (Bootstrap 5): the shared modal,
   toasts raised by the server (HX-Trigger "toast"), schema fields shown only under a
   condition (data-show-on), copy buttons, the model field's keyboard help and the Playground's
   streamed answer. Everything else is htmx attributes. */
(function () {
  "use strict";
  const ui = window.tabler;

  // --- Modal: fragments loaded into #modal-content open the shared dialog -------------------
  const modalElement = document.getElementById("modal");
  const modalContent = document.getElementById("modal-content");
  const spinner = modalContent ? modalContent.innerHTML : "";
  const modal = () => ui.Modal.getOrCreateInstance(modalElement);

  const focusFirstField = () => {
    const first = modalContent.querySelector(".is-invalid, input:not([type=hidden]), select, textarea, button");
    if (first) first.focus();
  };
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target === modalContent) {
      if (!modalElement.classList.contains("show")) modal().show();
      focusFirstField();
    }
  });
  document.body.addEventListener("htmx:afterRequest", (event) => {
    // A 204 after a form in the modal means "saved": close it; the page refreshes by event.
    if (event.detail.target === modalContent && event.detail.xhr.status === 204) modal().hide();
  });
  document.body.addEventListener("closeModal", () => { if (modalElement.classList.contains("show")) modal().hide(); });
  if (modalElement) {
    modalElement.addEventListener("hidden.bs.modal", () => { modalContent.innerHTML = spinner; });
    // Bootstrap focuses the dialog itself once it has opened; when the form arrived during the
    // opening animation, give the focus back to its first field.
    modalElement.addEventListener("shown.bs.modal", () => {
      if (!modalContent.contains(document.activeElement)) focusFirstField();
    });
  }
  document.body.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-modal]");
    if (opener && !modalElement.classList.contains("show")) {
      modalContent.innerHTML = spinner;
      modal().show();
    }
  });

  // --- Toasts ---------------------------------------------------------------------------------
  function toast(message, level) {
    const container = document.getElementById("toasts");
    const element = document.createElement("div");
    element.className = "toast align-items-center border-0 text-bg-" + (level || "success");
    element.setAttribute("role", level === "danger" ? "alert" : "status");
    const row = document.createElement("div");
    row.className = "d-flex";
    const body = document.createElement("div");
    body.className = "toast-body";
    body.textContent = message;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close btn-close-white me-2 m-auto";
    close.setAttribute("data-bs-dismiss", "toast");
    close.setAttribute("aria-label", "Close");
    row.append(body, close);
    element.append(row);
    container.append(element);
    element.addEventListener("hidden.bs.toast", () => element.remove());
    ui.Toast.getOrCreateInstance(element, { delay: 6000 }).show();
  }
  window.consoleToast = toast;
  document.body.addEventListener("toast", (event) => toast(event.detail.message, event.detail.level));
  document.body.addEventListener("htmx:responseError", (event) => {
    const status = event.detail.xhr.status;
    const text = status === 403 ? "Your role does not allow this change."
      : status === 404 ? "That no longer exists. Reload the page."
      : "Something went wrong on our side; nothing was changed. Try again.";
    toast(text, "danger");
  });
  document.body.addEventListener("htmx:sendError", () => toast("The server could not be reached. Check your connection and try again.", "danger"));
  document.querySelectorAll("#toasts .toast.show").forEach((element) => {
    setTimeout(() => ui.Toast.getOrCreateInstance(element).hide(), 6000);
  });

  // --- Schema fields shown only while another field has a value (data-show-on) -----------------
  function fieldValue(form, name) {
    const input = form.elements.namedItem(name);
    if (!input) return "";
    if (input.type === "checkbox") return input.checked ? "true" : "false";
    return input.value;
  }
  function applyShowOn(root) {
    root.querySelectorAll("[data-show-on]").forEach((input) => {
      const form = input.form;
      if (!form) return;
      const conditions = JSON.parse(input.getAttribute("data-show-on"));
      const shown = conditions.every(([name, value]) => fieldValue(form, name) === value);
      const wrapper = input.closest(".mb-3") || input;
      wrapper.hidden = !shown;
    });
  }
  document.addEventListener("DOMContentLoaded", () => applyShowOn(document));
  document.body.addEventListener("htmx:afterSettle", (event) => applyShowOn(event.detail.elt));
  document.body.addEventListener("change", (event) => { if (event.target.form) applyShowOn(event.target.form); });

  // --- Copy buttons ---------------------------------------------------------------------------
  document.body.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    source.select();
    (navigator.clipboard ? navigator.clipboard.writeText(source.value) : Promise.reject())
      .then(() => toast("Copied.", "success"), () => document.execCommand("copy"));
  });

  // --- Model field: keyboard help and the selected row's highlight -----------------------------
  document.body.addEventListener("keydown", (event) => {
    const search = event.target.closest("[data-model-search]");
    if (!search) return;
    if (event.key === "Enter") event.preventDefault(); // filtering, not submitting the form
    if (event.key === "ArrowDown") {
      const list = document.getElementById(search.getAttribute("aria-controls"));
      const target = list && (list.querySelector("input:checked:not(:disabled)") || list.querySelector("input:not(:disabled)"));
      if (target) { event.preventDefault(); target.focus(); }
    }
  });
  document.body.addEventListener("change", (event) => {
    const list = event.target.closest("[data-model-options]");
    if (!list || event.target.type !== "radio") return;
    list.querySelectorAll("label.active").forEach((label) => label.classList.remove("active"));
    const label = event.target.closest("label");
    if (label) label.classList.add("active");
  });

  // --- Playground: the answer streams in (fetch + ReadableStream over server-sent events) ---------
  let playgroundRun = null; // the AbortController of the run in flight
  function playgroundParts(form) {
    const byId = (id) => document.getElementById(id);
    return {
      answer: byId("playground-answer"), error: byId("playground-error"), meta: byId("playground-meta"),
      state: byId("playground-state"), run: form.querySelector("[data-playground-run]"),
      stop: form.querySelector("[data-playground-stop]"), spinner: form.querySelector("[data-playground-spinner]"),
    };
  }
  function playgroundError(parts, failure) {
    parts.error.querySelector("[data-error=message]").textContent = failure.message || failure.title || "The run failed.";
    parts.error.querySelector("[data-error=hint]").textContent = failure.hint || "";
    parts.error.hidden = false;
  }
  function playgroundEvent(parts, raw) {
    let name = "message", data = "";
    raw.split("\n").forEach((line) => {
      if (line.startsWith("event: ")) name = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    });
    if (!data) return;
    const payload = JSON.parse(data);
    if (name === "delta") parts.answer.append(document.createTextNode(payload.text));
    else if (name === "error") playgroundError(parts, payload);
    else if (name === "done") {
      ["model", "tokens", "latency", "credential"].forEach((key) => {
        parts.meta.querySelector(`[data-meta=${key}]`).textContent = payload[key] === null ? "" : payload[key];
      });
      parts.meta.hidden = false;
      parts.state.textContent = "Done.";
    }
  }
  async function runPlayground(form) {
    const parts = playgroundParts(form);
    if (playgroundRun) playgroundRun.abort();
    const controller = new AbortController();
    playgroundRun = controller;
    parts.answer.textContent = "";
    parts.error.hidden = true;
    parts.meta.hidden = true;
    parts.answer.setAttribute("aria-busy", "true");
    parts.run.disabled = true;
    parts.spinner.hidden = false;
    parts.stop.hidden = false;
    parts.state.textContent = "Running…";
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "Accept": "text/event-stream", "X-CSRFToken": form.elements.csrfmiddlewaretoken.value },
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok || !response.body) {
        let payload = null;
        try { payload = await response.json(); } catch (ignored) { payload = null; }
        const failure = (payload && payload.error) || { message: `The server answered ${response.status}.`, hint: "Try again; if it persists, reload the page." };
        playgroundError(parts, failure);
        parts.state.textContent = "Not run.";
        return;
      }
      parts.state.textContent = "Streaming…";
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          playgroundEvent(parts, buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (error) {
      if (error.name === "AbortError") parts.state.textContent = "Stopped.";
      else {
        playgroundError(parts, { message: "The connection was lost before the answer ended.", hint: "Check your connection and run again." });
        parts.state.textContent = "";
      }
    } finally {
      if (playgroundRun === controller) playgroundRun = null;
      parts.answer.setAttribute("aria-busy", "false");
      parts.run.disabled = false;
      parts.spinner.hidden = true;
      parts.stop.hidden = true;
    }
  }
  document.body.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-playground]");
    // Without fetch streaming the form posts normally and the page returns with the answer.
    if (!form || !window.ReadableStream || !window.TextDecoder || !window.AbortController) return;
    event.preventDefault();
    runPlayground(form);
  });
  document.body.addEventListener("click", (event) => {
    if (event.target.closest("[data-playground-stop]") && playgroundRun) playgroundRun.abort();
  });
  document.body.addEventListener("keydown", (event) => {
    const form = event.target.closest("form[data-playground]");
    if (form && event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.tagName === "TEXTAREA") {
      event.preventDefault();
      form.requestSubmit();
    }
  });
})();
