/* The console's own behaviour on top of htmx and Tabler (Bootstrap 5): the shared modal,
   toasts raised by the server (HX-Trigger "toast"), schema fields shown only under a
   condition (data-show-on), and copy buttons. Everything else is htmx attributes. */
(function () {
  "use strict";
  const ui = window.tabler;

  // --- Modal: fragments loaded into #modal-content open the shared dialog -------------------
  const modalElement = document.getElementById("modal");
  const modalContent = document.getElementById("modal-content");
  const spinner = modalContent ? modalContent.innerHTML : "";
  const modal = () => ui.Modal.getOrCreateInstance(modalElement);

  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target === modalContent) {
      if (!modalElement.classList.contains("show")) modal().show();
      const first = modalContent.querySelector(".is-invalid, input:not([type=hidden]), select, textarea, button");
      if (first) first.focus();
    }
  });
  document.body.addEventListener("htmx:afterRequest", (event) => {
    // A 204 after a form in the modal means "saved": close it; the page refreshes by event.
    if (event.detail.target === modalContent && event.detail.xhr.status === 204) modal().hide();
  });
  document.body.addEventListener("closeModal", () => { if (modalElement.classList.contains("show")) modal().hide(); });
  if (modalElement) {
    modalElement.addEventListener("hidden.bs.modal", () => { modalContent.innerHTML = spinner; });
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
})();
