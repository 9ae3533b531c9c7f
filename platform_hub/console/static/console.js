// The console's only script: a button marked data-print prints the page (the print stylesheet
// leaves out the navigation and the forms).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
});
