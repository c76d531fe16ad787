/* 知客 Zhike softphone: the browser as a phone line, speaking Twilio Media Streams.
 *
 * Microphone (echo cancellation, noise suppression) → AudioWorklet (ScriptProcessor when
 * worklets are missing) → 16 kHz PCM16 → 20 ms `media` frames on /voice/ws, after a `start`
 * with mediaFormat audio/l16;rate=16000 and customParameters {transcript: "1", caller}.
 * The bot's `media` frames play through a small jitter buffer; `clear` drops what is queued;
 * `mark`s are echoed once played; the keypad sends `dtmf` events. No build step, no CDN.
 * `window.zhikeVoice` exposes counters (frames sent/received, audible frames) for tests.
 */
(function () {
  "use strict";

  var RATE = 16000;
  var FRAME = 320; // samples in 20 ms at 16 kHz
  var JITTER = 0.08; // seconds of audio kept ahead of playback
  var AUDIBLE = 0.01; // RMS above which a received frame counts as speech
  var SILENT = 0.0001; // the line sends digital silence between prompts: no node needed
  var CLOSE_TEXT = {
    1000: "通话已结束，感谢您的来电。",
    1003: "线路不支持当前的音频格式。",
    1008: "连接被拒绝，请确认访问链接是否完整。",
    1013: "线路繁忙，请您稍后再拨。",
  };
  var WORKLET =
    "class ZhikeCapture extends AudioWorkletProcessor {" +
    "  constructor() { super(); this.buf = []; this.size = Math.round(sampleRate / 50); }" +
    "  process(inputs) {" +
    "    var ch = inputs[0] && inputs[0][0];" +
    "    if (ch) { for (var i = 0; i < ch.length; i++) this.buf.push(ch[i]); }" +
    "    if (this.buf.length >= this.size) { this.port.postMessage(new Float32Array(this.buf)); this.buf = []; }" +
    "    return true;" +
    "  }" +
    "}" +
    "registerProcessor('zhike-capture', ZhikeCapture);";

  var $ = function (id) { return document.getElementById(id); };
  var ui = {
    phone: $("phone"), status: $("status"), timer: $("timer"), notice: $("notice"),
    caller: $("caller"), dial: $("dial"), hangup: $("hangup"), mute: $("mute"),
    keypad: $("keypad"), transcript: $("transcript"), micLevel: $("mic-level"), botLevel: $("bot-level"),
  };
  var stats = (window.zhikeVoice = {
    state: "idle", framesSent: 0, framesReceived: 0, audibleFrames: 0, clears: 0, marks: 0,
    transcript: [], closeCode: null,
  });
  var call = null; // the live call's resources

  // ------------------------------------------------------------ ui
  function setState(state, text) {
    stats.state = state;
    ui.phone.setAttribute("data-state", state);
    ui.status.querySelector("span").textContent = text;
    var busy = state === "connecting" || state === "live";
    ui.dial.hidden = busy;
    ui.hangup.hidden = !busy;
    ui.dial.disabled = false;
    ui.mute.disabled = state !== "live";
    ui.caller.disabled = busy;
    Array.prototype.forEach.call(ui.keypad.querySelectorAll("button"), function (b) {
      b.disabled = state !== "live";
    });
  }

  function notice(text) {
    ui.notice.textContent = text || "";
    ui.notice.hidden = !text;
  }

  function clock() {
    if (!call || !call.since) return;
    var s = Math.floor((Date.now() - call.since) / 1000);
    ui.timer.textContent = pad(Math.floor(s / 60)) + ":" + pad(s % 60);
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function addLine(role, text) {
    var empty = ui.transcript.querySelector(".empty");
    if (empty) empty.remove();
    var item = document.createElement("li");
    item.className = "turn " + role;
    if (role !== "system") {
      var tag = document.createElement("span");
      tag.className = "who-tag";
      tag.textContent = role === "caller" ? "来电者" : "小知";
      item.appendChild(tag);
    }
    var body = document.createElement("div");
    var p = document.createElement("p");
    p.textContent = text;
    body.appendChild(p);
    if (role !== "system") {
      var time = document.createElement("time");
      var now = new Date();
      time.textContent = pad(now.getHours()) + ":" + pad(now.getMinutes()) + ":" + pad(now.getSeconds());
      body.appendChild(time);
    }
    item.appendChild(body);
    ui.transcript.appendChild(item);
    ui.transcript.scrollTop = ui.transcript.scrollHeight;
    stats.transcript.push({ role: role, text: text });
  }

  function level(bar, rms) {
    bar.style.width = Math.min(100, Math.round(Math.sqrt(rms) * 260)) + "%";
  }

  // ------------------------------------------------------------ audio helpers
  function Downsampler(inRate) {
    this.ratio = inRate / RATE;
    this.pos = 0;
    this.rest = new Float32Array(0);
  }
  Downsampler.prototype.feed = function (input) {
    var data = new Float32Array(this.rest.length + input.length);
    data.set(this.rest);
    data.set(input, this.rest.length);
    var out = [];
    var pos = this.pos;
    while (pos + this.ratio <= data.length) {
      var start = Math.floor(pos), end = Math.max(Math.floor(pos + this.ratio), start + 1);
      var sum = 0;
      for (var i = start; i < end; i++) sum += data[i];
      out.push(sum / (end - start)); // box filter: averages away what 16 kHz cannot carry
      pos += this.ratio;
    }
    var keep = Math.floor(pos);
    this.rest = data.slice(keep);
    this.pos = pos - keep;
    return out;
  };

  function rmsOf(samples) {
    var sum = 0;
    for (var i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
    return samples.length ? Math.sqrt(sum / samples.length) : 0;
  }

  function encode(samples) {
    var bytes = new Uint8Array(samples.length * 2);
    var view = new DataView(bytes.buffer);
    for (var i = 0; i < samples.length; i++) {
      var s = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    var text = "";
    for (var j = 0; j < bytes.length; j += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(j, j + 0x8000));
    }
    return btoa(text);
  }

  function decode(payload) {
    var text = atob(payload);
    var view = new DataView(new ArrayBuffer(text.length));
    for (var i = 0; i < text.length; i++) view.setUint8(i, text.charCodeAt(i));
    var out = new Float32Array(text.length >> 1);
    for (var j = 0; j < out.length; j++) out[j] = view.getInt16(j * 2, true) / 0x8000;
    return out;
  }

  function randomId(prefix) {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return prefix + Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  // ------------------------------------------------------------ the line
  function send(frame) {
    if (call && call.ws && call.ws.readyState === WebSocket.OPEN) call.ws.send(JSON.stringify(frame));
  }

  function captured(samples) {
    if (!call || !call.open) return;
    var pcm = call.down.feed(samples);
    if (call.muted) pcm = pcm.map(function () { return 0; });
    for (var i = 0; i < pcm.length; i++) call.pending.push(pcm[i]);
    while (call.pending.length >= FRAME) {
      var frame = call.pending.splice(0, FRAME);
      level(ui.micLevel, rmsOf(frame));
      stats.framesSent += 1;
      send({
        event: "media", streamSid: call.sid,
        media: { track: "inbound", chunk: String(stats.framesSent), timestamp: String(stats.framesSent * 20), payload: encode(frame) },
      });
    }
  }

  function play(payload) {
    var samples = decode(payload);
    var ctx = call.ctx;
    var rms = rmsOf(samples);
    stats.framesReceived += 1;
    level(ui.botLevel, rms);
    var now = ctx.currentTime;
    if (rms < SILENT) { // silence: keep the schedule, skip the node
      if (call.playAt > now) call.playAt += samples.length / RATE;
      return;
    }
    stats.audibleFrames += rms > AUDIBLE ? 1 : 0;
    var buffer = ctx.createBuffer(1, samples.length, RATE);
    buffer.getChannelData(0).set(samples);
    var source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    if (call.playAt < now + 0.02) call.playAt = now + JITTER; // underrun: rebuild the cushion
    source.start(call.playAt);
    call.playAt += buffer.duration;
    call.sources.push(source);
    source.onended = function () {
      var at = call ? call.sources.indexOf(source) : -1;
      if (at >= 0) call.sources.splice(at, 1);
    };
  }

  function clearPlayback() {
    stats.clears += 1;
    call.sources.forEach(function (s) { try { s.stop(); } catch (e) { /* already stopped */ } });
    call.sources = [];
    call.playAt = 0;
    call.marks.splice(0).forEach(echoMark); // Twilio echoes pending marks on clear
  }

  function echoMark(mark) {
    stats.marks += 1;
    send({ event: "mark", streamSid: call.sid, mark: { name: mark.name } });
  }

  function tickMarks() {
    if (!call) return;
    var now = call.ctx.currentTime;
    while (call.marks.length && call.marks[0].at <= now) echoMark(call.marks.shift());
    clock();
  }

  function received(event) {
    var frame;
    try { frame = JSON.parse(event.data); } catch (e) { return; }
    if (!call) return;
    if (frame.event === "media" && frame.media) play(frame.media.payload);
    else if (frame.event === "clear") clearPlayback();
    else if (frame.event === "mark" && frame.mark) call.marks.push({ name: frame.mark.name, at: Math.max(call.playAt, call.ctx.currentTime) });
    else if (frame.event === "transcript" && frame.text) addLine(frame.role === "caller" ? "caller" : "bot", frame.text);
  }

  function lineUrl() {
    var token = new URLSearchParams(location.search).get("token");
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + location.host + "/voice/ws" + (token ? "?token=" + encodeURIComponent(token) : "");
  }

  async function startCapture(ctx, stream) {
    var source = ctx.createMediaStreamSource(stream);
    var sink = ctx.createGain();
    sink.gain.value = 0; // keep the graph pulling without echoing the microphone
    sink.connect(ctx.destination);
    if (ctx.audioWorklet && window.AudioWorkletNode) {
      var url = URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" }));
      try {
        await ctx.audioWorklet.addModule(url);
        var node = new AudioWorkletNode(ctx, "zhike-capture");
        node.port.onmessage = function (e) { captured(e.data); };
        source.connect(node).connect(sink);
        return [source, node, sink];
      } catch (e) { /* fall back below */ } finally { URL.revokeObjectURL(url); }
    }
    var processor = ctx.createScriptProcessor(2048, 1, 1);
    processor.onaudioprocess = function (e) { captured(new Float32Array(e.inputBuffer.getChannelData(0))); };
    source.connect(processor).connect(sink);
    return [source, processor, sink];
  }

  function newContext() {
    try { return new AudioContext({ sampleRate: RATE, latencyHint: "interactive" }); }
    catch (e) { return new AudioContext({ latencyHint: "interactive" }); }
  }

  async function dial() {
    if (call) return;
    notice("");
    ui.dial.disabled = true;
    if (!navigator.mediaDevices || !window.AudioContext) {
      notice("当前浏览器无法使用麦克风，请通过 HTTPS 访问本页面，或更换最新版浏览器。");
      setState("idle", "未接通");
      return;
    }
    setState("connecting", "连接中…");
    var mic;
    try {
      mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
    } catch (e) {
      notice("无法使用麦克风，请在浏览器设置中允许本页面访问麦克风后重试。");
      setState("idle", "未接通");
      return;
    }
    var ctx = newContext();
    call = {
      sid: randomId("MZ"), ctx: ctx, mic: mic, nodes: [], ws: null, open: false, since: 0,
      down: new Downsampler(ctx.sampleRate), pending: [], playAt: 0, sources: [], marks: [], muted: false,
    };
    call.timer = setInterval(tickMarks, 50);
    await ctx.resume();
    call.nodes = await startCapture(ctx, mic);
    connect();
  }

  function connect() {
    var ws = (call.ws = new WebSocket(lineUrl()));
    ws.onopen = function () {
      var params = { transcript: "1" };
      var number = ui.caller.value.replace(/[\s-]/g, "");
      if (number) params.caller = number;
      send({ event: "connected", protocol: "Call", version: "1.0.0" });
      send({
        event: "start", sequenceNumber: "1", streamSid: call.sid,
        start: {
          streamSid: call.sid, callSid: randomId("CA"), accountSid: "softphone", tracks: ["inbound"],
          mediaFormat: { encoding: "audio/l16", sampleRate: RATE, channels: 1 }, customParameters: params,
        },
      });
      call.open = true;
      call.since = Date.now();
      setState("live", "通话中");
      addLine("system", "已接通 " + new Date().toLocaleTimeString("zh-CN", { hour12: false }));
    };
    ws.onmessage = received;
    ws.onclose = function (e) {
      stats.closeCode = e.code;
      var text = CLOSE_TEXT[e.code] || "通话已断开，请检查网络后重新拨打。";
      finish(e.code === 1000 ? "" : text, e.code === 1000 ? text : "通话已断开");
    };
    ws.onerror = function () { /* onclose follows with the code */ };
  }

  function hangup() {
    if (!call) return;
    send({ event: "stop", streamSid: call.sid, stop: { accountSid: "softphone", callSid: call.sid } });
    if (call.ws) call.ws.close(1000, "caller hung up");
    finish("", "您已挂断");
  }

  function finish(problem, line) {
    if (!call) return;
    var ended = call;
    call = null;
    clearInterval(ended.timer);
    ended.mic.getTracks().forEach(function (t) { t.stop(); });
    ended.nodes.forEach(function (n) { try { n.disconnect(); } catch (e) { /* gone */ } });
    setTimeout(function () { ended.ctx.close(); }, Math.max(0, (ended.playAt - ended.ctx.currentTime) * 1000) + 200);
    level(ui.micLevel, 0);
    level(ui.botLevel, 0);
    if (ended.since) addLine("system", line);
    notice(problem);
    setState("ended", "已挂断");
  }

  function press(key) {
    if (!call || !call.open) return;
    send({ event: "dtmf", streamSid: call.sid, dtmf: { track: "inbound_track", digit: key } });
    beep(key);
    var button = ui.keypad.querySelector('[data-key="' + key + '"]');
    if (button) {
      button.classList.add("pressed");
      setTimeout(function () { button.classList.remove("pressed"); }, 150);
    }
  }

  var TONES = { 1: [697, 1209], 2: [697, 1336], 3: [697, 1477], 4: [770, 1209], 5: [770, 1336], 6: [770, 1477],
    7: [852, 1209], 8: [852, 1336], 9: [852, 1477], "*": [941, 1209], 0: [941, 1336], "#": [941, 1477] };

  function beep(key) { // local feedback only: the key itself goes out as a dtmf event
    var ctx = call.ctx, gain = ctx.createGain(), end = ctx.currentTime + 0.12;
    gain.gain.value = 0.06;
    gain.connect(ctx.destination);
    TONES[key].forEach(function (f) {
      var osc = ctx.createOscillator();
      osc.frequency.value = f;
      osc.connect(gain);
      osc.start();
      osc.stop(end);
    });
  }

  // ------------------------------------------------------------ wiring
  ui.dial.addEventListener("click", dial);
  ui.hangup.addEventListener("click", hangup);
  ui.mute.addEventListener("click", function () {
    if (!call) return;
    call.muted = !call.muted;
    ui.mute.setAttribute("aria-pressed", String(call.muted));
    ui.mute.querySelector("span").textContent = call.muted ? "已静音" : "静音";
  });
  ui.keypad.addEventListener("click", function (e) {
    var button = e.target.closest("button[data-key]");
    if (button) press(button.getAttribute("data-key"));
  });
  document.addEventListener("keydown", function (e) {
    if (!call || e.target === ui.caller || e.ctrlKey || e.metaKey || e.altKey) return;
    if (/^[0-9*#]$/.test(e.key)) { press(e.key); e.preventDefault(); }
  });
  window.addEventListener("pagehide", hangup);
  setState("idle", "未接通");
})();
