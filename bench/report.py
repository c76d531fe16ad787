"""Summarise bench/results/*.json into docs/benchmarks.md (the part between the markers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import ROOT

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def _ok(value: float, budget: float) -> str:
    return "✅" if value <= budget else "❌"


def _nlu(nlu: dict[str, Any]) -> list[str]:
    rows = [
        "| data set | accuracy | macro-F1 | entity P / R / F1 | train 2.5k: intents / +entities | parse p50 / p95 / p99 |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in nlu.get("datasets", {}).items():
        if "skipped" in r:
            rows.append(f"| {name} | skipped: {r['skipped']} | | | | |")
            continue
        e = r["entities"]["micro"] or {}
        t = r["train_seconds_2500"]
        p = r["parse_latency_ms"]
        rows.append(
            f"| {name} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | "
            f"{e.get('precision', 0):.3f} / {e.get('recall', 0):.3f} / {e.get('f1', 0):.3f} | "
            f"{t['intents_only']:.2f} s {_ok(t['intents_only'], 5)} / {t['with_entities']:.2f} s "
            f"{_ok(t['with_entities'], 10)} ({t['examples']} ex.) | "
            f"{p['p50']:.2f} / {p['p95']:.2f} / {p['p99']:.2f} ms {_ok(p['p99'], 2)} |"
        )
    return rows


def _bot(bot: dict[str, Any]) -> list[str]:
    lat = bot["turn_latency_ms"]
    stories = bot.get("test_stories", {})
    return [
        "| measure | value | budget |",
        "|---|---|---|",
        f"| train the reference bot | {bot['train_seconds']:.1f} s | ≤ 10 s {_ok(bot['train_seconds'], 10)} |",
        f"| load the model | {bot['model_load_seconds']:.2f} s ({bot['model_size_mb']} MB) | ≤ 2 s {_ok(bot['model_load_seconds'], 2)} |",
        f"| in-process text turn p50 / p95 / p99 ({bot['turns']} turns) | {lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} ms | p99 ≤ 10 ms {_ok(lat['p99'], 10)} |",
        f"| worker RSS after the turns (peak while loading) | {bot['rss_mb']:.0f} MB ({bot.get('peak_rss_mb', 0):.0f} MB) | ≤ 300 MB {_ok(bot['rss_mb'], 300)} |",
        f"| test stories passed, alone: augmented / plain memoization | {stories['augmented']['single']} / {stories['plain']['single']} of {stories['stories']} | all |",
        f"| test stories passed after another story (unseen paths): augmented / plain | {stories['augmented']['chained']} / {stories['plain']['chained']} of {stories['stories']} | |",
    ]


def _http(http: dict[str, Any]) -> list[str]:
    rows = [
        "| measure | turns | turns/s | p50 / p95 / p99 | errors | budget |",
        "|---|---|---|---|---|---|",
    ]
    low, high = http["think_seconds"]
    load = f"{http['conversations']} conversations, {low:g}–{high:g} s think"
    runs = {
        "rest": f"REST, {load}",
        "websocket": f"WebSocket, {load}",
        "saturation_1_worker": f"REST saturation, {http['clients']} clients, 1 worker",
        "saturation_2_workers": f"REST saturation, {http['clients']} clients, 2 workers",
    }
    for key, label in runs.items():
        r = http.get(key)
        if not r:
            continue
        lat = r["latency_ms"]
        budget = f"p99 ≤ 30 ms {_ok(lat['p99'], 30)}" if key in ("rest", "websocket") else ""
        rows.append(
            f"| {label} | {r['turns']} | {r['turns_per_second']:.1f} | "
            f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} ms | "
            f"{sum(r['errors'].values())} | {budget} |"
        )
    return rows


def _kb(kb: dict[str, Any]) -> list[str]:
    rows = [
        "| entries (questions) | build | search p50 / p99 | edit → live (worst) | RSS Δ | budget |",
        "|---|---|---|---|---|---|",
    ]
    for r in kb["scale"]:
        lat = r["search_ms"]
        live = max(v["max_s"] for v in r["edit_to_live"].values() if v["max_s"] != float("inf"))
        budget = ""
        if r["entries"] >= 100_000:
            budget = (
                f"p99 ≤ 5 ms {_ok(lat['p99'], 5)}, build ≤ 60 s {_ok(r['build_s'], 60)}, "
                f"live ≤ 2 s {_ok(live, 2)}"
            )
        rows.append(
            f"| {r['entries']:,} ({r['questions']:,}) | {r['build_s']:.1f} s | "
            f"{lat['p50']:.1f} / {lat['p99']:.1f} ms | {live * 1000:.0f} ms | "
            f"{r['memory']['rss_delta_mb']:.0f} MB | {budget} |"
        )
    rows += ["", "| split | top-1 / top-3 (ours) | char-bigram BM25 | answered (precision) |"]
    rows.append("|---|---|---|---|")
    for name, q in kb["quality"].items():
        if name == "thresholds":
            continue
        ours, base = q["ours"], q["baseline_char_bigram_bm25"]
        rows.append(
            f"| {name} | {ours['top1']:.3f} / {ours['top3']:.3f} | "
            f"{base['top1']:.3f} / {base['top3']:.3f} | "
            f"{ours['answered']:.2f} ({ours['answered_precision']:.2f}) |"
        )
    return rows


def _handoff(r: dict[str, Any]) -> list[str]:
    n = r["notification"]
    rows = [
        f"Trigger → agent console notification ({n['handoffs']} handoffs, {n['customers']} "
        f"customers, {n['agent_consoles']} consoles): p50 {n['latency_ms']['p50']:.1f} / "
        f"p99 {n['latency_ms']['p99']:.1f} ms {_ok(n['latency_ms']['p99'], 200)}; "
        f"missed {n['errors']}.",
        "",
        f"| with {r['queue_1000']['waiting']} waiting | p50 ms | p99 ms |",
        "|---|---|---|",
    ]
    for name, ms in r["queue_1000"]["ms"].items():
        rows.append(f"| {name} | {ms['p50']:.2f} | {ms['p99']:.2f} |")
    return rows


def _sentiment(r: dict[str, Any]) -> list[str]:
    rows = ["| detector | precision | recall | F1 |", "|---|---|---|---|"]
    for name in ("detector_at_default", "lexicon_only_at_0.5", "model_only_chars_at_0.5"):
        m = r["sentiment"].get(name)
        if m:
            rows.append(
                f"| anger: {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} |"
            )
    m = r["human_request"]["eval"]
    rows.append(f"| 转人工 request | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} |")
    return rows


def _wechat(r: dict[str, Any]) -> list[str]:
    low, high = r["think_seconds"]
    rows = [
        f"REST / 公众号: {r['customers']} customers, {low:g}–{high:g} s think, one worker, "
        "client send → passive reply XML (safe mode: decrypted); 微信客服: "
        f"{r['wecom_kf']['customers']} customers, message + callback → send_msg recorded.",
        "",
        "| channel | turns | turns/s | p50 / p95 / p99 | errors |",
        "|---|---|---|---|---|",
    ]
    labels = {
        "rest": "REST (baseline)",
        "wechat_plain": "公众号 plain",
        "wechat_safe": "公众号 safe (AES)",
        "wecom_kf": "微信客服 callback → send_msg",
    }
    for key, label in labels.items():
        x = r[key]
        lat = x["latency_ms"]
        rows.append(
            f"| {label} | {x['turns']} | {x['turns_per_second']:.1f} | "
            f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} ms | "
            f"{sum(x['errors'].values())} |"
        )
    safe, plain = r["crypto"]["safe_us"], r["crypto"]["plain_us"]
    rows += [
        "",
        f"In-process per message (median): safe {safe['total']:.0f} µs (decrypt "
        f"{safe['decrypt']:.0f}, encrypt {safe['encrypt']:.0f}, XML parse "
        f"{safe['parse_envelope'] + safe['parse_inner']:.0f}), plain {plain['total']:.0f} µs; "
        f"MsgId claim (SQLite) {r['crypto'].get('state_claim_us', 0):.0f} µs.",
    ]
    return rows


def _voice(r: dict[str, Any]) -> list[str]:
    def pair(part: dict[str, Any], stage: str) -> str:
        return f"{part[stage]['p50']:.0f} / {part[stage]['p95']:.0f}"

    budget = r["budget"]["budget_ms"]
    rows = [
        "Real-time `Call`s on the reference bot (8 kHz line, 20 ms frames, one core). Each stage "
        "in ms, p50 / p95; total: the caller's last speech frame → the first audible bot frame.",
        "",
        "| ASR | reply | n | endpoint | ASR final | turn | TTS | first frame out | total | budget |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    labels = {
        "cached_prompt": "cached prompt",
        "cached_prompt_fresh_decoder": "cached prompt, fresh decoder",
        "dynamic_text": "dynamic (espeak)",
    }
    for engine in ("vosk", "whisper"):
        for kind, label in labels.items():
            part = r[engine].get(kind)
            if not part:
                continue
            budgeted = engine == "vosk" and kind.startswith("cached_prompt")
            total = part["total"]["p95"]
            mark = f"p95 ≤ {budget:.0f} ms {_ok(total, budget)}" if budgeted else ""
            cells = " | ".join(pair(part, s) for s in ("endpoint", "asr_final", "turn", "tts"))
            rows.append(
                f"| {engine} | {label} | {part['utterances']} | {cells} | "
                f"{pair(part, 'first_frame_out')} | **{pair(part, 'total')}** | {mark} |"
            )
    c = r["concurrency"]
    rows += [
        "",
        f"Concurrent calls on one core ({c['engine']} streaming, each caller: an utterance, "
        "then 2.5 s listening, in a loop):",
        "",
        "| calls | tick lag p50 / p99 / max | late frames | in utterance | CPU (event loop) | "
        "speech end → ASR final p50 / p95 (utterances, unfinished) |",
        "|---|---|---|---|---|---|",
    ]
    for x in c["levels"]:
        lag, asr = x["tick_lag_ms"], x["speech_end_to_asr_final_ms"]
        finished = x["utterances"] > x["asr_unfinished"]
        done = f"{asr['p50']:.0f} / {asr['p95']:.0f} ms" if finished else "–"
        rows.append(
            f"| {x['calls']} | {lag['p50']:.1f} / {lag['p99']:.1f} / {lag['max']:.0f} ms "
            f"{_ok(lag['p99'], 20)} | {x['late_frames_pct']:.1f} % | {x['speech_pct']:.0f} % | "
            f"{x['cpu_pct_of_core']:.0f} % ({x['loop_cpu_pct_of_core']:.0f} %) | {done} "
            f"({x['utterances']}, {x['asr_unfinished']}) {'✅' if x['asr_keeps_up'] else '❌'} |"
        )
    cold, *_, warm = r["vosk_decoder"]["cpu_per_audio_s"]
    rows += [
        "",
        f"Calls per core with the recogniser keeping up: **{c['calls_per_core']}**; the 20 ms "
        f"frame loop keeps real time up to {c['frame_loop_calls_per_core']} calls (the "
        "recogniser then far behind). Vosk CPU per "
        f"second of audio: {cold:.2f} s on a fresh decoder, {warm:.2f} s on the same clip the "
        "third time (its graph cache warm).",
    ]
    return rows


def _sip(r: dict[str, Any]) -> list[str]:
    def pair(part: dict[str, Any], stage: str) -> str:
        return f"{part[stage]['p50']:.0f} / {part[stage]['p95']:.0f}"

    budget = r["budget"]["budget_ms"]
    where = "on the loopback wire" if r.get("wire_capture") else "in the caller's recordings"
    rows = [
        "Real SIP calls: Debian baresip phones (CPU 1) dial the IVR in the server process (CPU 0), "
        "G.711 µ-law RTP on 127.0.0.1. Each stage in ms, p50 / p95; total: the caller's last "
        f"RTP packet with speech → our first audible RTP packet ({where}); the caller's "
        "recording: the same from the phone's own sent / heard WAVs.",
        "",
        "| ASR | reply | jitter_ms | n | endpoint | ASR final | turn | TTS | to the wire | total "
        "| caller's recording | budget |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    labels = {"cached_prompt": "cached prompt", "dynamic_text": "dynamic (espeak)"}
    for key, engines in r["latency"].items():
        for engine, groups in engines.items():
            for kind, part in groups.items():
                total = part["total"]["p95"]
                budgeted = engine == "vosk" and kind == "cached_prompt"
                mark = f"p95 ≤ {budget:.0f} ms {_ok(total, budget)}" if budgeted else ""
                stages = ("endpoint", "asr_final", "turn", "tts", "to_wire")
                cells = " | ".join(pair(part, s) for s in stages)
                rows.append(
                    f"| {engine} | {labels.get(kind, kind)} | {key.removeprefix('jitter_')} | "
                    f"{part['calls']} | {cells} | **{pair(part, 'total')}** | "
                    f"{pair(part, 'recording_ms')} | {mark} |"
                )
    c = r["concurrency"]
    window = c["levels"][0]["window_s"] if c["levels"] else 0
    rows += [
        "",
        "Simultaneous calls to a keys-only server (`asr: none`: media, the 20 ms loop, in-band "
        f"DTMF, prompts), counted over {window:g} s once all calls are up:",
        "",
        "| calls | server CPU (per call) | frames short (worst call) | underruns (worst) | "
        "rx dropped (worst) | RTP loss phones / ours | jitter at the phones | real time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for x in c["levels"]:
        rows.append(
            f"| {x['calls']} | {x['server_cpu_pct_of_core']:.0f} % "
            f"({x['server_cpu_pct_per_call']:.1f} %) | {x['short_frames_max']} | "
            f"{x['underruns_max_pct']:.1f} % | {x['rx_dropped_max_pct']:.1f} % | "
            f"{x['phone_rx_loss_max_pct']:.1f} / {x['our_rx_loss_max_pct']:.1f} % | "
            f"{x['phone_rx_jitter_max_ms']:.1f} ms | {'✅' if x['real_time'] else '❌'}"
            f"{' (2nd try)' if 'first_attempt' in x else ''} |"
        )
    verdicts = [
        f"p95 {v['p95_ms']:.0f} ms at jitter_ms {k.rsplit('_', 1)[-1]} {_ok(v['p95_ms'], budget)}"
        for k, v in r["budget"].items()
        if k.startswith("vosk_cached_prompt_")
    ]
    best, retried = c["calls_per_core"], c.get("calls_per_core_with_retry", 0)
    more = f" ({retried} on a second try)" if retried > best else ""
    if max(best, retried) >= c["largest_level_tried"]:
        more += ", the largest level tried"
    rows += [
        "",
        f"Speech end → first RTP packet, Vosk and a cached prompt (budget ≤ {budget:.0f} ms): "
        f"{'; '.join(verdicts)}. Calls per core over SIP keeping real time at the first try: "
        f"**{best}**{more}; the server CPU per call there suggests about "
        f"{c['cpu_bound_estimate']}.",
    ]
    return rows


def _when(result: dict[str, Any]) -> str:
    """When, and how fast the machine was then (`calibration_ms`, lower is faster)."""
    speed = result.get("calibration_ms")
    return f"measured {result['measured_at']}" + (f", calibration {speed} ms" if speed else "")


def render(results: dict[str, Any]) -> str:
    lines = [BEGIN, ""]
    if "nlu" in results:
        lines += [
            f"### NLU ({_when(results['nlu'])}, one core)",
            "",
            *_nlu(results["nlu"]),
            "",
        ]
    if "bot" in results:
        lines += [
            f"### Reference bot ({_when(results['bot'])}, one core)",
            "",
            *_bot(results["bot"]),
            "",
        ]
    if "http" in results:
        lines += [
            f"### Server over HTTP / WebSocket ({_when(results['http'])})",
            "",
            *_http(results["http"]),
            "",
        ]
    if "kb" in results:
        lines += [
            f"### FAQ knowledge base ({_when(results['kb'])}, one core)",
            "",
            *_kb(results["kb"]),
            "",
        ]
    for key, title, part in (
        ("handoff", "Human handoff", _handoff),
        ("sentiment", "Handoff triggers (held-out examples)", _sentiment),
        ("wechat", "WeChat channels", _wechat),
        ("voice", "Voice IVR", _voice),
        ("sip", "Voice over SIP", _sip),
    ):
        if key in results:
            lines += [
                f"### {title} ({_when(results[key])})",
                "",
                *part(results[key]),
                "",
            ]
    lines.append(END)
    return "\n".join(lines)


def write_markdown(results: dict[str, Any], doc: Path = DOC) -> Path:
    text = doc.read_text(encoding="utf-8") if doc.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    doc.write_text(head + render(results) + tail, encoding="utf-8")
    return doc
