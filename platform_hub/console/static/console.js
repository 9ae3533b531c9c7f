// The console's only script: a button marked data-print prints the page (the print stylesheet
// leaves out the navigation and the forms); 記録の検証 follows a running verification's progress.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
  const verification = document.querySelector("[data-progress]");
  if (verification && verification.dataset.state === "running") {
    followVerification(verification);
  }
});

// Every second: the count into the progress bar; once the verification is done, the page again
// (rendered by the hub, with what it found).
function followVerification(section) {
  const bar = section.querySelector("progress");
  const checked = section.querySelector(".checked");
  const total = section.querySelector(".total");
  const poll = async () => {
    let answer = null;
    try {
      answer = await fetch(section.dataset.progress, { credentials: "same-origin" });
    } catch {
      // the hub away a moment: asked again below
    }
    if (!answer || answer.status >= 500) {
      window.setTimeout(poll, 1000);
      return;
    }
    if (!answer.ok || answer.redirected) {
      // The session ended (the hub sends sign-in) or the page may no longer be seen: the page again
      // says which, instead of a count that never moves.
      window.location.reload();
      return;
    }
    const progress = await answer.json();
    if (progress.state !== "running") {
      window.location.reload();
      return;
    }
    window.setTimeout(poll, 1000);
    if (bar) {
      bar.max = Math.max(progress.total, 1);
      bar.value = progress.checked;
    }
    if (checked) {
      checked.textContent = String(progress.checked);
    }
    if (total) {
      total.textContent = String(progress.total);
    }
  };
  window.setTimeout(poll, 1000);
}
