// In-memory storage for oidc-provider's models (its adapter interface), kept
// outside any one Provider instance: rotating the signing keys builds a new
// Provider, and sessions, grants and tokens carry over. Unlike oidc-provider's
// own development adapter it has no size cap (nothing is evicted early in a
// long test) and it can list what it holds, which the test-control API uses
// (a person's sessions, revoking a grant).

const now = () => Date.now();
const epoch = () => Math.floor(Date.now() / 1000);

export class Store {
  #entries = new Map(); // `${model}:${id}` -> { model, id, payload, expiresAt }

  #writes = 0;

  #live(entry) {
    if (entry && entry.expiresAt !== undefined && entry.expiresAt <= now()) {
      this.#entries.delete(`${entry.model}:${entry.id}`);
      return undefined;
    }
    return entry;
  }

  get(model, id) {
    return this.#live(this.#entries.get(`${model}:${id}`))?.payload;
  }

  set(model, id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? now() + expiresIn * 1000 : undefined;
    this.#entries.set(`${model}:${id}`, {
      model, id, payload: structuredClone(payload), expiresAt,
    });
    if (++this.#writes % 256 === 0) this.sweep();
  }

  delete(model, id) {
    this.#entries.delete(`${model}:${id}`);
  }

  // Live entries of one model (or of all models) as [id, payload] pairs.
  list(model) {
    const out = [];
    for (const entry of [...this.#entries.values()]) {
      if ((model === undefined || entry.model === model) && this.#live(entry)) {
        out.push([entry.id, entry.payload]);
      }
    }
    return out;
  }

  // Removes every token, code and session-independent artefact of a grant,
  // and the grant itself (what oidc-provider does when a grant is revoked).
  revokeGrant(grantId) {
    for (const entry of [...this.#entries.values()]) {
      if (entry.payload?.grantId === grantId || (entry.model === 'Grant' && entry.id === grantId)) {
        this.#entries.delete(`${entry.model}:${entry.id}`);
      }
    }
  }

  sweep() {
    for (const entry of [...this.#entries.values()]) this.#live(entry);
  }

  // oidc-provider instantiates `new adapter(modelName)` for each model.
  adapterClass() {
    const store = this;
    return class StoreAdapter {
      constructor(model) {
        this.model = model;
      }

      async upsert(id, payload, expiresIn) {
        store.set(this.model, id, payload, expiresIn);
      }

      async find(id) {
        const payload = store.get(this.model, id);
        return payload === undefined ? undefined : structuredClone(payload);
      }

      async findByUid(uid) {
        const hit = store.list(this.model).find(([, p]) => p.uid === uid);
        return hit ? structuredClone(hit[1]) : undefined;
      }

      async findByUserCode(userCode) {
        const hit = store.list(this.model).find(([, p]) => p.userCode === userCode);
        return hit ? structuredClone(hit[1]) : undefined;
      }

      async consume(id) {
        const payload = store.get(this.model, id);
        if (payload) payload.consumed = epoch();
      }

      async destroy(id) {
        store.delete(this.model, id);
      }

      async revokeByGrantId(grantId) {
        for (const [id, p] of store.list(this.model)) {
          if (p.grantId === grantId) store.delete(this.model, id);
        }
      }
    };
  }
}
