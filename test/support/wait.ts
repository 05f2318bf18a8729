// Bounded waiting: every loop in the suites, the benches and the e2e waits through here.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `fn` every `everyMs` until it returns a truthy value (which is returned) or `timeoutMs` passes
 * (then it throws, naming `what` and the last error `fn` threw). `fn` runs at least once.
 */
export async function waitFor<T>(
    what: string,
    fn: () => Promise<T | undefined | false>,
    timeoutMs: number,
    everyMs = 50,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            const v = await fn();
            if (v) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() >= deadline) break;
        await sleep(everyMs);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}
