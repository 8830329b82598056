// The QA player (/calls/{linkedid}): the recording's waveform drawn from the stored summary
// (wavesurfer.js with the record's peaks, so nothing is decoded in the browser), played by an
// <audio> element that the server feeds with HTTP Range; the call's moments as marks on the
// waveform and as a list to jump to; the keyboard for everything. Without wavesurfer (npm
// packages not installed) the plain audio element with its controls still plays.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const audio = $("audio");
  if (!audio) return;
  const data = JSON.parse($("player-data").textContent);
  const text = JSON.parse($("player-text").textContent);
  const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];
  const seen = (window.callenginePlayer = { audio, marks: data.marks.length, waveform: false, regions: [] });

  function waveform() {
    if (!window.WaveSurfer) { audio.controls = true; return; }
    const regions = window.WaveSurfer.Regions ? window.WaveSurfer.Regions.create() : null;
    const surfer = window.WaveSurfer.create({
      container: $("waveform"), media: audio, peaks: [data.peaks], duration: data.duration,
      height: 96, barWidth: 2, barGap: 1, waveColor: "#9aa7b8", progressColor: "#1f4e8c", cursorColor: "#c8102e",
      plugins: regions ? [regions] : [],
    });
    if (regions) {
      surfer.on("decode", () => {
        seen.regions = drawn(data.marks);
        seen.regions.forEach((r) => regions.addRegion(r));
      });
    }
    seen.waveform = true;
  }

  // Rings and holds apart from the IVR and queue moments: a ring is amber, a hold a shaded span
  // up to its unhold (or the end of the recording when the call ended on hold).
  // Who rang or held is in their label; the other marks keep it short (an IVR path is long).
  const COLOURS = { ring: "#b86e00", unhold: "#1f4e8c" };
  const HELD = "rgba(31, 78, 140, 0.18)";
  const WHO = new Set(["ring", "hold", "unhold"]);

  function drawn(marks) {
    const named = (m) => text.marks[m.kind] || m.kind;
    const label = (m) => (WHO.has(m.kind) && m.detail ? `${named(m)}: ${m.detail}` : named(m));
    return marks.map((m, i) => {
      const colour = COLOURS[m.kind] || "#c8102e";
      const region = { start: m.at_s, content: label(m), color: colour, drag: false, resize: false };
      if (m.kind !== "hold") return region;
      const resumed = marks.slice(i + 1).find((n) => n.kind === "unhold" && n.detail === m.detail);
      return { ...region, end: resumed ? resumed.at_s : data.duration || m.at_s, color: HELD };
    });
  }

  const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  const total = () => (Number.isFinite(audio.duration) ? audio.duration : data.duration || 0);
  const seek = (s) => { audio.currentTime = Math.max(0, Math.min(total(), s)); };
  const toggle = () => (audio.paused ? audio.play().catch(() => {}) : audio.pause());

  function speed(step) {
    const now = SPEEDS.indexOf(Number($("speed").value));
    const next = SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, now + step))];
    $("speed").value = String(next);
    audio.playbackRate = next;
  }

  function wire() {
    $("play").addEventListener("click", toggle);
    $("speed").addEventListener("change", () => { audio.playbackRate = Number($("speed").value); });
    audio.addEventListener("play", () => { $("play").textContent = text.pause; });
    audio.addEventListener("pause", () => { $("play").textContent = text.play; });
    audio.addEventListener("timeupdate", () => { $("time").textContent = `${clock(audio.currentTime)} / ${clock(total())}`; });
    for (const button of document.querySelectorAll("#marks button")) {
      button.addEventListener("click", () => { seek(Number(button.dataset.at)); audio.play().catch(() => {}); });
    }
    document.addEventListener("keydown", (event) => {
      if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
      const keys = {
        " ": toggle, ArrowLeft: () => seek(audio.currentTime - 5), ArrowRight: () => seek(audio.currentTime + 5),
        "[": () => speed(-1), "]": () => speed(1),
      };
      const digit = /^[0-9]$/.test(event.key) ? () => seek((total() * Number(event.key)) / 10) : null;
      const action = keys[event.key] || digit;
      if (!action) return;
      event.preventDefault();
      action();
    });
  }

  function map() {
    if (!data.location || !window.L || !$("map")) return;
    const here = [data.location.lat, data.location.lon];
    const shown = window.L.map("map", { zoomControl: false, attributionControl: false }).setView(here, 16);
    const tiles = document.querySelector(".call-page").dataset.tiles;
    if (tiles) window.L.tileLayer(tiles, { maxZoom: 19 }).addTo(shown);
    window.L.marker(here).addTo(shown);
    if (data.location.radius_m) window.L.circle(here, { radius: data.location.radius_m }).addTo(shown);
  }

  waveform();
  wire();
  map();
})();
