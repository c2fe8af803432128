/* The console's own behaviour on top of htmx and Tabler (Bootstrap 5): the shared modal,
   toasts raised by the server (HX-Trigger "toast"), schema fields shown only under a
   condition (data-show-on), copy buttons, the model field's keyboard help and the Playground's
   streamed answer. Everything else is htmx attributes. */
(function () {
  "use strict";
  const ui = window.tabler;

  // --- Modal: fragments loaded into #modal-content open the shared dialog -------------------
  // One mechanism owns the dialog's focus, for every modal:
  // - on open, the page behind becomes inert and the opener is remembered;
  // - the first field takes the focus once the content has arrived and the dialog is shown,
  //   whichever comes last (until then the dialog itself holds it, or nothing can be focused);
  // - Tab and Shift+Tab cycle inside the dialog while it is open;
  // - on close, the focus returns to the opener, or to the control that replaced it when the
  //   page re-rendered that part meanwhile (a saved credential refreshes the list it opened from).
  // Bootstrap's own focus handling is off ({focus: false}) so the two never compete.
  const modalElement = document.getElementById("modal");
  const modalContent = document.getElementById("modal-content");
  const spinner = modalContent ? modalContent.innerHTML : "";
  const modal = () => ui.Modal.getOrCreateInstance(modalElement, { focus: false });
  const dialog = { open: false, shown: false, loaded: false, closeWhenShown: false, opener: null, returnTo: null };

  const FOCUSABLE = "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex='-1'])";
  const usable = (element) => !element.disabled && element.getClientRects().length > 0 && !element.closest("[hidden]");
  const focusables = () => [...modalContent.querySelectorAll(FOCUSABLE)].filter(usable);
  function firstField() {
    // An invalid field first, then the first form field, then the footer's first button (a
    // confirmation's Cancel); the header's close button only when nothing else is there.
    const pick = (selector) => [...modalContent.querySelectorAll(selector)].find(usable);
    return pick(".is-invalid")
      || pick(".modal-body input:not([type=hidden]), .modal-body select, .modal-body textarea")
      || pick(".modal-footer button, .modal-footer a[href]")
      || pick(".modal-body button, .modal-body a[href]")
      || focusables()[0] || null;
  }
  function focusInside() {
    if (!dialog.open || !dialog.shown) return; // still opening: nothing inside can take it yet
    const target = (dialog.loaded && firstField()) || modalElement;
    target.focus();
  }
  function setPageInert(inert) {
    [...document.body.children].forEach((element) => {
      if (element !== modalElement && element.id !== "toasts" && element.tagName !== "SCRIPT") element.inert = inert;
    });
  }
  function replacementOf(opener) {
    // The opener itself, the control that replaced it (same request), or its region.
    if (opener.element.isConnected) return opener.element;
    if (opener.request) {
      const same = [...document.querySelectorAll("[hx-get]")]
        .find((element) => element.getAttribute("hx-get") === opener.request && usable(element));
      if (same) return same;
    }
    for (const id of opener.regions) {
      const region = document.getElementById(id);
      if (region) {
        if (!region.matches(FOCUSABLE) && !region.hasAttribute("tabindex")) region.setAttribute("tabindex", "-1");
        return region;
      }
    }
    return document.getElementById("main");
  }
  function returnFocus() {
    const target = dialog.returnTo && replacementOf(dialog.returnTo);
    if (target) target.focus();
  }
  function openModal(opener) {
    const regions = [];
    for (let node = opener && opener.parentElement; node; node = node.parentElement) if (node.id) regions.push(node.id);
    dialog.opener = opener ? { element: opener, request: opener.getAttribute("hx-get"), regions } : null;
    dialog.returnTo = null;
    dialog.open = true;
    dialog.shown = false;
    dialog.loaded = false;
    setPageInert(true); // the opener loses the focus: keys typed while it opens go nowhere
    modal().show();
  }

  if (modalElement) {
    document.body.addEventListener("click", (event) => {
      const opener = event.target.closest("[data-modal]");
      if (opener && !dialog.open) {
        modalContent.innerHTML = spinner;
        openModal(opener);
      }
    });
    document.body.addEventListener("htmx:afterSwap", (event) => {
      if (event.detail.target !== modalContent) return;
      if (!dialog.open) openModal(event.detail.requestConfig ? event.detail.requestConfig.elt : null);
      dialog.loaded = true;
      if (!modalContent.contains(document.activeElement)) focusInside();
    });
    document.body.addEventListener("htmx:afterRequest", (event) => {
      // A 204 answering a form sent from the modal means "saved": close it; the page refreshes
      // by event. A poll's 204 (a validation or a model refresh still running) means "not yet".
      const verb = event.detail.requestConfig ? event.detail.requestConfig.verb : "get";
      if (event.detail.target === modalContent && event.detail.xhr.status === 204 && verb !== "get" && dialog.open) modal().hide();
      // A dialog that could not be loaded (refused, gone, unreachable) closes instead of
      // spinning; the error's toast says why. Bootstrap ignores hide() while it is still
      // opening, so then it closes as soon as it has opened.
      if (event.detail.target === modalContent && !event.detail.successful && verb === "get" && dialog.open && !dialog.loaded) {
        if (dialog.shown) modal().hide();
        else dialog.closeWhenShown = true;
      }
    });
    document.body.addEventListener("closeModal", () => { if (dialog.open) modal().hide(); });
    modalElement.addEventListener("shown.bs.modal", () => {
      dialog.shown = true;
      if (dialog.closeWhenShown) {
        dialog.closeWhenShown = false;
        modal().hide();
        return;
      }
      if (!modalContent.contains(document.activeElement)) focusInside();
    });
    modalElement.addEventListener("hide.bs.modal", () => { dialog.returnTo = dialog.opener; });
    modalElement.addEventListener("hidden.bs.modal", () => {
      dialog.open = false;
      dialog.shown = false;
      dialog.loaded = false;
      dialog.closeWhenShown = false;
      modalContent.innerHTML = spinner;
      setPageInert(false);
      returnFocus();
    });
    // A part of the page re-rendered after the dialog closed (the list it was opened from)
    // takes the focus with it; give it back to the opener's replacement.
    document.body.addEventListener("htmx:afterSettle", () => {
      if (!dialog.open && dialog.returnTo && (!document.activeElement || document.activeElement === document.body)) returnFocus();
    });
    ["keydown", "pointerdown"].forEach((type) => document.addEventListener(type, (event) => {
      if (!dialog.open) dialog.returnTo = null; // the user has moved on
    }, true));
    // Keep the focus inside while the dialog is open, including while it is still opening.
    document.addEventListener("keydown", (event) => {
      if (!dialog.open || event.key !== "Tab") return;
      const items = focusables();
      const active = document.activeElement;
      if (!modalElement.contains(active) || !items.length) {
        event.preventDefault();
        focusInside();
      } else if (event.shiftKey && (active === items[0] || active === modalElement)) {
        event.preventDefault();
        items[items.length - 1].focus();
      } else if (!event.shiftKey && active === items[items.length - 1]) {
        event.preventDefault();
        items[0].focus();
      }
    });
    document.addEventListener("focusin", (event) => {
      if (dialog.open && !modalElement.contains(event.target) && !event.target.closest("#toasts")) focusInside();
    });
  }

  // --- Confirmations: hx-confirm asks in the styled modal, not the browser's confirm() -------
  // The element (or its form) names the dialog: data-confirm-title ("Revoke “ci”?") and
  // data-confirm-action (the button's word: "Revoke", "Clear"); hx-confirm is the question.
  // Without JavaScript the form posts as it is.
  if (modalElement) {
    document.body.addEventListener("htmx:confirm", (event) => {
      const question = event.detail.question;
      if (!question) return;
      event.preventDefault();
      const source = event.detail.elt.closest("[data-confirm-title]") || event.detail.elt;
      const header = document.createElement("div");
      header.className = "modal-header";
      const title = document.createElement("h2");
      title.className = "modal-title text-break";
      title.id = "modal-title";
      title.textContent = source.getAttribute("data-confirm-title") || "Are you sure?";
      header.append(title);
      const body = document.createElement("div");
      body.className = "modal-body";
      const text = document.createElement("p");
      text.className = "mb-0";
      text.textContent = question;
      body.append(text);
      const footer = document.createElement("div");
      footer.className = "modal-footer";
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "btn btn-link";
      cancel.setAttribute("data-bs-dismiss", "modal");
      cancel.textContent = "Cancel";
      const ok = document.createElement("button");
      ok.type = "button";
      ok.className = "btn btn-danger ms-auto";
      ok.textContent = source.getAttribute("data-confirm-action") || "Confirm";
      ok.addEventListener("click", () => {
        modal().hide();
        event.detail.issueRequest(true);
      }, { once: true });
      footer.append(cancel, ok);
      modalContent.replaceChildren(header, body, footer);
      const opener = event.detail.elt.matches("form") ? (event.detail.elt.querySelector("[type=submit]") || event.detail.elt) : event.detail.elt;
      openModal(opener);
      dialog.loaded = true;
      if (!modalContent.contains(document.activeElement)) focusInside();
    });
  }

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
    return element;
  }
  // An error toast goes stale once the same request succeeds (a retry), or, for "could not be
  // reached", once any request gets through.
  const failedToasts = new Map(); // "VERB path" (or "network") → the toast saying it failed
  const requestKey = (detail) => detail.requestConfig ? `${detail.requestConfig.verb} ${detail.requestConfig.path}` : "";
  function clearStale(key) {
    const element = failedToasts.get(key);
    failedToasts.delete(key);
    if (element && element.isConnected) ui.Toast.getOrCreateInstance(element).hide();
  }
  window.consoleToast = toast;
  document.body.addEventListener("toast", (event) => toast(event.detail.message, event.detail.level));
  document.body.addEventListener("htmx:responseError", (event) => {
    const status = event.detail.xhr.status;
    const opening = (event.detail.requestConfig?.verb || "get") === "get";
    const text = status === 403 && opening ? "Your role cannot open this. Reload the page to see what you can do."
      : status === 403 ? "Your role does not allow this change."
      : status === 404 ? "That no longer exists. Reload the page."
      : "Something went wrong on our side; nothing was changed. Try again.";
    const key = requestKey(event.detail);
    clearStale(key);
    failedToasts.set(key, toast(text, "danger"));
  });
  document.body.addEventListener("htmx:sendError", () => {
    clearStale("network");
    failedToasts.set("network", toast("The server could not be reached. Check your connection and try again.", "danger"));
  });
  document.body.addEventListener("htmx:afterRequest", (event) => {
    if (!event.detail.successful) return;
    clearStale(requestKey(event.detail));
    clearStale("network");
  });
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
      tools: byId("playground-tool-calls"),
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
    else if (name === "tool_calls") {
      // The server renders the calls panel (the page's own #tool-calls partial, escaped there).
      parts.tools.innerHTML = payload.html;
      if (!parts.answer.textContent) {
        const note = document.createElement("span");
        note.className = "text-secondary";
        note.textContent = "The model called a function instead of answering: enter its result below.";
        parts.answer.append(note);
      }
      parts.called = true;
    } else if (name === "done") {
      ["model", "tokens", "latency", "credential", "environment"].forEach((key) => {
        parts.meta.querySelector(`[data-meta=${key}]`).textContent = payload[key] === null ? "" : payload[key];
      });
      parts.meta.hidden = false;
      parts.state.textContent = parts.called ? "Waiting for the tool results." : "Done.";
    }
  }
  async function runPlayground(form, submitter) {
    const parts = playgroundParts(form);
    if (playgroundRun) playgroundRun.abort();
    const controller = new AbortController();
    playgroundRun = controller;
    const body = new FormData(form); // the calls panel's results belong to the form too
    if (submitter && submitter.name) body.append(submitter.name, submitter.value);
    parts.answer.textContent = "";
    parts.error.hidden = true;
    parts.meta.hidden = true;
    parts.answer.setAttribute("aria-busy", "true");
    parts.run.disabled = true;
    const send = document.querySelector("[data-playground-send-results]");
    if (send) send.disabled = true;
    parts.spinner.hidden = false;
    parts.stop.hidden = false;
    parts.state.textContent = "Running…";
    try {
      // getAttribute: the Run and Send results buttons are named "action", which form.action would return.
      const response = await fetch(form.getAttribute("action"), {
        method: "POST",
        body,
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
      parts.tools.textContent = ""; // kept until now: a refused "Send results" can be fixed
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
      if (send) send.disabled = false;
      parts.spinner.hidden = true;
      parts.stop.hidden = true;
    }
  }
  document.body.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-playground]");
    // Without fetch streaming the form posts normally and the page returns with the answer.
    if (!form || !window.ReadableStream || !window.TextDecoder || !window.AbortController) return;
    event.preventDefault();
    runPlayground(form, event.submitter);
  });
  document.body.addEventListener("click", (event) => {
    if (event.target.closest("[data-playground-stop]") && playgroundRun) playgroundRun.abort();
  });
  document.body.addEventListener("keydown", (event) => {
    // A tool result's textarea sits outside the form element (form="playground-form").
    const form = event.target.form && event.target.form.matches("[data-playground]") ? event.target.form : null;
    if (form && event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.tagName === "TEXTAREA") {
      event.preventDefault();
      const send = event.target.name === "tool_result" ? document.querySelector("[data-playground-send-results]") : null;
      form.requestSubmit(send || form.querySelector("[data-playground-run]"));
    }
  });
  // Another model: its image and function section (shown only for vision / tool-call models).
  document.body.addEventListener("change", (event) => {
    if (event.target.name === "model" && event.target.closest("form[data-playground]") && window.htmx) {
      window.htmx.trigger(document.body, "playgroundModelChanged");
    }
  });
})();
