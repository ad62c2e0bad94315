// Ask before an irreversible button (data-confirm) submits its form; without JavaScript the
// form simply submits.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});
