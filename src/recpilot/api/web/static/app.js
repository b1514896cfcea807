// recpilot chat page: plain JavaScript over the /v1 API (no build step, no external resources).
"use strict";

const state = { apiKey: null, apiBase: "/v1", userId: "1", sessionId: null, busy: false };

const $ = (id) => document.getElementById(id);

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

async function loadKey() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  if (fragment.get("key")) {
    state.apiKey = fragment.get("key");
    return;
  }
  try {
    const response = await fetch("/config.json", { cache: "no-store" });
    if (response.ok) {
      const config = await response.json();
      state.apiKey = config.api_key;
      state.apiBase = config.api_base || "/v1";
      return;
    }
  } catch (error) {
    // Falls through to the message below.
  }
  showError("No API key: open this page from `recpilot serve`, or add #key=YOUR_KEY to the address.");
}

async function api(method, path, body) {
  if (!state.apiKey) throw new Error("no API key; see the message above");
  const response = await fetch(state.apiBase + path, {
    method,
    headers: {
      Authorization: `Bearer ${state.apiKey}`,
      ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error(await describeFailure(response));
  return response.status === 204 ? null : response.json();
}

async function describeFailure(response) {
  let detail = response.statusText;
  try {
    const payload = await response.json();
    if (payload && payload.detail) detail = payload.detail;
  } catch (error) {
    // Not JSON: keep the status text.
  }
  return `${response.status}: ${detail}`;
}

function addMessage(role, text) {
  const item = document.createElement("li");
  item.className = `message ${role}`;
  item.setAttribute("aria-label", role === "user" ? "You" : "recpilot");
  const body = document.createElement("p");
  body.className = "text";
  body.textContent = text;
  item.append(body);
  $("log").append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

function describeAttributes(attributes) {
  const parts = [];
  if (attributes.year !== undefined) parts.push(String(attributes.year));
  if (Array.isArray(attributes.genres)) parts.push(attributes.genres.join(", "));
  for (const [name, value] of Object.entries(attributes)) {
    if (["year", "genres", "imdb_id", "tmdb_id", "tags"].includes(name)) continue;
    if (value === null || typeof value === "object") continue;
    parts.push(`${name}: ${value}`);
  }
  return parts.join(" · ");
}

// The item's reasons ("it's a comedy, as you asked; people with tastes like yours rated it highly") as
// the sentence the agent says when asked "why that one?" (recpilot.agent.explain.why_sentence).
function explanationSentence(text) {
  const clauses = text.split("; ").map((clause) => clause.trim().replace(/\.$/, "")).filter(Boolean);
  if (!clauses.length) return "";
  const last = clauses.pop();
  return `Because ${clauses.length ? `${clauses.join(", ")} and ${last}` : last}.`;
}

function addCard(list, item) {
  const card = $("card-template").content.firstElementChild.cloneNode(true);
  const article = card.querySelector("article");
  article.setAttribute("aria-label", item.title);
  card.querySelector(".card-title").textContent = item.title;
  card.querySelector(".card-attributes").textContent = describeAttributes(item.attributes || {});
  card.querySelector(".card-explanation").textContent = explanationSentence(item.explanation || "");
  const like = card.querySelector(".like");
  const dislike = card.querySelector(".dislike");
  like.setAttribute("aria-label", `Like ${item.title}`);
  dislike.setAttribute("aria-label", `Dislike ${item.title}`);
  like.addEventListener("click", () => sendFeedback(item, "like", like, dislike));
  dislike.addEventListener("click", () => sendFeedback(item, "dislike", dislike, like));
  list.append(card);
}

async function sendFeedback(item, event, pressed, other) {
  clearError();
  try {
    await api("POST", "/feedback", {
      user_id: state.userId,
      item_id: item.item_id,
      event,
      ...(state.sessionId ? { session_id: state.sessionId } : {}),
    });
    pressed.setAttribute("aria-pressed", "true");
    other.setAttribute("aria-pressed", "false");
    await refreshProfile();
  } catch (error) {
    showError(`Could not record your ${event}: ${error.message}`);
  }
}

function describeRule(rule) {
  const target = rule.target || {};
  let what = "";
  if (target.kind === "attribute") what = `${target.attribute} = ${target.value}`;
  else if (target.kind === "title_pattern") what = `${target.pattern}s`;
  else if (target.kind === "numeric") {
    what = `${target.attribute} in [${target.min ?? ""}, ${target.max ?? ""}]`;
  }
  let text = `${rule.effect} ${what}`.trim();
  if (rule.expires_at != null) text += ` (${untilWords(rule.expires_at)})`;
  if (rule.provenance) text += `, ${provenanceWords(rule.provenance)}`;
  return text;
}

// Whose words asked for a rule (the API's provenance record), in a few words.
function provenanceWords(provenance) {
  if (provenance.source === "unknown") return "asked by: unknown (before provenance)";
  const who = {
    user: "your message",
    simulated_user: "a simulated user's message",
    client: "a client's tool call",
    library: "a direct call",
  }[provenance.source] || "unknown";
  const turn = provenance.turn != null ? ` in turn ${provenance.turn}` : "";
  const via = {llm_plan: " (an LLM plan the policy allowed)", confirmation: " (confirmed)", mcp: " (through MCP)"}[provenance.via] || "";
  return `asked by ${who}${turn}${via}`;
}

// A date JavaScript can show, or words instead of "Invalid Date" (a value past year 275760).
function untilWords(seconds) {
  const date = new Date(Number(seconds) * 1000);
  if (Number.isNaN(date.getTime())) return "until a date too far to show";
  return `until ${date.toLocaleString()}`;
}

function renderList(listId, emptyId, entries, describe, remove, noun) {
  const list = $(listId);
  list.replaceChildren();
  for (const entry of entries) {
    const row = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = describe(entry);
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Remove";
    button.setAttribute("aria-label", `Remove ${noun} ${describe(entry)}`);
    button.addEventListener("click", () => remove(entry));
    row.append(label, button);
    list.append(row);
  }
  $(emptyId).hidden = entries.length > 0;
}

async function refreshProfile() {
  const user = encodeURIComponent(state.userId);
  try {
    const profile = await api("GET", `/users/${user}/profile`);
    $("summary").textContent = profile.summary || "";
    renderList("rules", "rules-empty", profile.feed_rules || [], describeRule, removeRule, "rule");
    renderList(
      "preferences", "prefs-empty", profile.preferences || [],
      (pref) => `${pref.kind.replace("_", " ")}: ${pref.value}`, removePreference, "preference",
    );
  } catch (error) {
    showError(`Could not load the profile: ${error.message}`);
  }
}

async function removeRule(rule) {
  clearError();
  try {
    await api("DELETE", `/users/${encodeURIComponent(state.userId)}/feed-rules/${rule.id}`);
  } catch (error) {
    showError(`Could not remove the rule: ${error.message}`);
  }
  await refreshProfile();
}

async function removePreference(pref) {
  clearError();
  try {
    await api("DELETE", `/users/${encodeURIComponent(state.userId)}/preferences/${pref.id}`);
  } catch (error) {
    showError(`Could not remove the preference: ${error.message}`);
  }
  await refreshProfile();
}

// Server-sent events arrive over a POST (EventSource cannot send a body or a key), so the stream is
// read with fetch and split into events here.
async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: data.join("\n") };
    }
  }
}

// A `step` event is one of the agent's turn events (its `kind`: plan, tool_call, tool_result...),
// sent as it happens, so the status line follows the turn while it runs.
function describeStep(step) {
  if (step.kind === "plan") return `Planning: ${step.intent}`;
  if (step.kind === "tool_call") return `Working: ${step.tool}`;
  if (step.kind === "fallback") return "The language model failed; the offline brain is answering…";
  return "Working…";
}

async function ensureSession() {
  if (state.sessionId) return;
  const session = await api("POST", "/sessions", { user_id: state.userId });
  state.sessionId = session.session_id;
}

async function send(text) {
  clearError();
  addMessage("user", text);
  const answer = addMessage("assistant", "…");
  const cards = document.createElement("ol");
  cards.className = "cards";
  cards.setAttribute("aria-label", "Recommendations");
  answer.append(cards);
  $("status").textContent = "Thinking…";
  try {
    await ensureSession();
    const response = await fetch(`${state.apiBase}/sessions/${state.sessionId}/messages/stream`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${state.apiKey}`,
        "Content-Type": "application/json",
        Accept: "text/event-stream",
      },
      body: JSON.stringify({ content: text }),
    });
    if (!response.ok) throw new Error(await describeFailure(response));
    let replied = false;
    for await (const { event, data } of readEvents(response)) {
      const payload = JSON.parse(data);
      if (event === "step") {
        $("status").textContent = describeStep(payload);
      } else if (event === "item") {
        addCard(cards, payload);
      } else if (event === "reply") {
        answer.querySelector(".text").textContent = payload.reply;
        if (payload.degraded) {
          const note = document.createElement("p");
          note.className = "note";
          note.textContent = "The language model was unavailable; the offline brain answered.";
          answer.append(note);
        }
        replied = true;
      } else if (event === "error") {
        throw new Error(payload.detail || "the server reported an error");
      }
    }
    if (!replied) throw new Error("the answer stream ended early");
    if (!cards.children.length) cards.remove();
  } catch (error) {
    answer.querySelector(".text").textContent = "Sorry, that did not work.";
    showError(`Could not get an answer: ${error.message}`);
    return;
  } finally {
    $("status").textContent = "";
  }
  // A turn may have added feed rules or preferences.
  await refreshProfile();
}

function setBusy(busy) {
  state.busy = busy;
  $("send").disabled = busy;
}

function start() {
  $("chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("message");
    const text = input.value.trim();
    if (!text || state.busy) return;
    input.value = "";
    setBusy(true);
    try {
      await send(text);
    } finally {
      setBusy(false);
      input.focus();
    }
  });
  $("user-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = $("user-id").value.trim();
    if (!user) return;
    state.userId = user;
    state.sessionId = null;
    $("log").replaceChildren();
    clearError();
    await refreshProfile();
  });
  state.userId = $("user-id").value.trim() || "1";
  loadKey().then(() => {
    if (state.apiKey) refreshProfile();
  });
}

start();
