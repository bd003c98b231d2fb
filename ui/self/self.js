// The self-service page: lists the person's devices and keys, and makes a
// new key pair in the browser (WebCrypto X25519). Only the public half is
// sent to wgate; the private half goes into the config the person downloads
// or scans, and nowhere else.

const $ = (id) => document.getElementById(id);

function b64(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function when(t) {
  return t ? new Date(t * 1000).toLocaleString() : "—";
}

// A WireGuard key pair: X25519, both halves as WireGuard writes them
// (32 raw bytes, base64). The private key is exported once, as PKCS#8,
// whose last 32 bytes are the raw key (RFC 8410).
async function makeKeyPair() {
  const pair = await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"]);
  const pub = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  return { publicKey: b64(pub), privateKey: b64(pkcs8.slice(pkcs8.length - 32)) };
}

let csrf = "";

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                  credentials: "same-origin" });
  const text = await res.text();
  let json = {};
  try { json = text ? JSON.parse(text) : {}; } catch { json = { error: text }; }
  if (!res.ok) {
    const err = new Error(json.error || `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return json;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
}

function render(me) {
  $("who").textContent = me.user + (me.email ? ` <${me.email}>` : "");
  // Only admins see the way to the admin UI (which checks again itself).
  $("admin-link").hidden = !me.admin;
  $("block").textContent = `Your address block: ${me.block || "none"} · groups: ${me.groups.join(", ") || "none"}`;
  const tbody = $("devices").querySelector("tbody");
  tbody.replaceChildren();
  for (const d of me.devices) {
    const keys = d.keys.length ? d.keys : [null];
    for (const [i, k] of keys.entries()) {
      const row = document.createElement("tr");
      // The device's first row offers a new key for it: same device, same
      // address, in the group of its newest key; the old key is replaced.
      const action = document.createElement("td");
      if (i === 0) {
        const renew = document.createElement("button");
        renew.type = "button";
        renew.className = "renew";
        renew.dataset.device = d.name;
        renew.textContent = d.keys.length ? "Renew" : "New key";
        renew.addEventListener("click", () => {
          $("device").value = d.name;
          const newest = d.keys.reduce((a, b) => (b.created_at > (a?.created_at ?? -1) ? b : a), null);
          if (newest && me.groups.includes(newest.group)) $("group").value = newest.group;
          $("new-key").requestSubmit();
        });
        action.appendChild(renew);
      }
      cell(row, d.name);
      cell(row, d.address || "—");
      cell(row, k ? String(k.id) : "—");
      cell(row, k ? k.group : "—");
      cell(row, k ? k.state : "no key", k ? `state-${k.state}` : "");
      cell(row, k ? when(k.expires_at) : "—");
      cell(row, k ? when(k.last_handshake_at) : "—");
      row.appendChild(action);
      tbody.appendChild(row);
    }
  }
  const select = $("group");
  select.replaceChildren();
  for (const g of me.groups) {
    const opt = document.createElement("option");
    opt.value = g;
    opt.textContent = g;
    select.appendChild(opt);
  }
  $("policy").textContent = me.key_policy || "";
}

function drawQr(text) {
  const canvas = $("qr");
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (typeof qrcode !== "function") return;
  const qr = qrcode(0, "L");
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const scale = Math.floor((canvas.width - 16) / n);
  const offset = Math.floor((canvas.width - scale * n) / 2);
  ctx.fillStyle = "#000";
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (qr.isDark(r, c)) ctx.fillRect(offset + c * scale, offset + r * scale, scale, scale);
    }
  }
}

async function createKey(event) {
  event.preventDefault();
  $("error").textContent = "";
  $("create").disabled = true;
  try {
    const pair = await makeKeyPair();
    const issued = await api("POST", "/api/v1/self/keys", {
      public_key: pair.publicKey, device: $("device").value, group: $("group").value || undefined,
    });
    const config = issued.config.replace(/^# PrivateKey = .*$/m, `PrivateKey = ${pair.privateKey}`);
    const blob = new Blob([config], { type: "text/plain" });
    const link = $("download");
    link.href = URL.createObjectURL(blob);
    link.download = `wgate-${issued.device}.conf`;
    $("result-summary").textContent =
      `Key ${issued.key_id} for ${issued.device} (${issued.address}), group ${issued.group}, expires ${when(issued.expires_at)}.`;
    drawQr(config);
    $("result").hidden = false;
    render(await api("GET", "/api/v1/self"));
  } catch (e) {
    $("error").textContent = e.message;
  } finally {
    $("create").disabled = false;
  }
}

async function main() {
  try {
    const me = await api("GET", "/api/v1/self");
    csrf = me.csrf_token;
    $("logout-csrf").value = csrf;
    $("logout").hidden = false;
    $("me").hidden = false;
    render(me);
  } catch (e) {
    if (e.status === 401) {
      $("who").textContent = "";
      $("login").hidden = false;
    } else {
      $("who").textContent = e.message;
    }
  }
  $("new-key").addEventListener("submit", createKey);
}

main();
