// The reports page's charts, drawn with Chart.js from the same report JSON as the tables below
// them (so a chart and its table cannot disagree): calls per day, the service levels per day,
// tickets per category, the citizens' ratings. Without Chart.js the tables stand alone.
"use strict";

(() => {
  const data = document.getElementById("report-data");
  if (!data || !window.Chart) return;
  const report = JSON.parse(data.textContent);
  const text = JSON.parse(document.getElementById("report-text").textContent);
  const table = (name) => report.tables.find((t) => t.name === name) || { rows: [] };
  const COLORS = { blue: "#1f4e8c", green: "#2e7d32", red: "#c8102e", amber: "#b26a00", grey: "#9aa7b8" };
  const drawn = (window.callengineCharts = []);

  function chart(id, type, labels, datasets, options = {}) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    drawn.push(new window.Chart(canvas, {
      type, data: { labels, datasets },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
                 plugins: { legend: { position: "bottom" } }, ...options },
    }));
  }

  const days = table("harian").rows;
  const day = (r) => r.hari;
  chart("chart-calls", "bar", days.map(day), [
    { label: text.in, data: days.map((r) => r.masuk), backgroundColor: COLORS.grey },
    { label: text.answered, data: days.map((r) => r.dijawab), backgroundColor: COLORS.blue },
    { label: text.abandoned, data: days.map((r) => r.ditinggalkan), backgroundColor: COLORS.red },
  ]);
  chart("chart-sl", "line", days.map(day), [
    { label: text.sl15, data: days.map((r) => (r.sl15 == null ? null : r.sl15 * 100)), borderColor: COLORS.blue },
    { label: text.sl20, data: days.map((r) => (r.sl20 == null ? null : r.sl20 * 100)), borderColor: COLORS.green },
  ], { scales: { y: { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } } } });
  const categories = table("kategori").rows;
  chart("chart-categories", "bar", categories.map((r) => r.nilai), [
    { label: text.tickets, data: categories.map((r) => r.tiket), backgroundColor: COLORS.amber },
  ], { indexAxis: "y" });
  const ratings = table("penilaian").rows;
  chart("chart-ratings", "bar", ratings.map((r) => String(r.skor)), [
    { label: text.ratings, data: ratings.map((r) => r.jumlah), backgroundColor: COLORS.green },
  ]);
})();
