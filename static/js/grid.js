// The collection grid's matte: one choice for every cutout, remembered per person.
const MATTES = { checker: null, white: "#ffffff", black: "#000000", lightgrey: "#d9d9d9", beige: "#efe6d2" };
const grid = document.getElementById("jr-grid");
const select = document.getElementById("jr-grid-matte"), colour = document.getElementById("jr-grid-colour");
const key = `jr:${grid.dataset.user}:grid-matte`;

function apply(matte, custom) {
  grid.dataset.matte = matte;
  grid.style.setProperty("--matte", matte === "custom" ? custom : MATTES[matte] || "#fff");
  select.value = matte;
  if (custom) colour.value = custom;
  localStorage.setItem(key, JSON.stringify({ matte, custom: colour.value }));
}

const saved = JSON.parse(localStorage.getItem(key) || "null");
apply(saved && saved.matte in { ...MATTES, custom: 1 } ? saved.matte : "checker", saved && saved.custom);
select.addEventListener("change", () => apply(select.value, colour.value));
colour.addEventListener("input", () => apply("custom", colour.value));
