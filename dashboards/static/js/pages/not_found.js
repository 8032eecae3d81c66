// The not-found page has no live data: the clock says so.
document.getElementById("asof")?.classList.add("hidden");
