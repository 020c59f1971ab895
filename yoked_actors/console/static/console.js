// Live updates on the runs page: reload every 10 s while the box is ticked and the tab is visible.
(function () {
  var box = document.querySelector("[data-live]");
  if (!box) return;
  box.checked = sessionStorage.getItem("yoked-live") === "1";
  box.addEventListener("change", function () { sessionStorage.setItem("yoked-live", box.checked ? "1" : "0"); });
  setInterval(function () {
    if (box.checked && document.visibilityState === "visible") location.reload();
  }, 10000);
})();
