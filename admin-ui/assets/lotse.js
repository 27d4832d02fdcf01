// Lotse web UI: small comforts on top of pages that work without this script.
// - Copy buttons for one-time secrets (invitation tokens, generated passwords).
// - On the new referral form: client fields whose data category the consent does not
//   cover are marked, so nobody types what will be refused. The server's rule counts.
(function () {
  "use strict";

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    button.hidden = false;
    var label = button.textContent;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.value).then(function () {
        button.textContent = "Kopiert ✓";
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });

  // After a refused form, move the focus to the list of what to fix, so screen readers
  // announce it and keyboard users start there.
  var errors = document.getElementById("fehler");
  if (errors) { errors.focus(); }

  var boxes = document.querySelectorAll("[data-consent-category]");
  if (boxes.length === 0) { return; }
  function update() {
    var allowed = {};
    boxes.forEach(function (b) { allowed[b.getAttribute("data-consent-category")] = b.checked; });
    document.querySelectorAll("[data-category]").forEach(function (field) {
      var covered = allowed[field.getAttribute("data-category")];
      field.classList.toggle("not-covered", !covered);
    });
  }
  boxes.forEach(function (b) { b.addEventListener("change", update); });
  update();
}());
