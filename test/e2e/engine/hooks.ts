// Resource hooks as the Pulumi engine runs them. The SDK registers each named hook with the monitor
// (RegisterResourceHook: its name and a callback token on the program's callback server) and binds hook
// names to a resource in RegisterResource; before a step the engine calls each bound hook over gRPC
// (Callbacks.Invoke with a ResourceHookRequest) and an error in the answer fails the step. Pulumi's
// MockMonitor has no RegisterResourceHook: this module adds it and records the bindings.
import * as grpc from "@grpc/grpc-js";
import * as pulumi from "@pulumi/pulumi";
import { CallbacksClient } from "@pulumi/pulumi/proto/callback_grpc_pb";
import { CallbackInvokeRequest, CallbackInvokeResponse } from "@pulumi/pulumi/proto/callback_pb";
import { ResourceHookRequest, ResourceHookResponse } from "@pulumi/pulumi/proto/resource_pb";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { serializeProperties } from "@pulumi/pulumi/runtime/rpc";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { Props } from "./state";

export type HookKind = "beforeUpdate" | "beforeDelete";
/** The hook names bound to one resource, per kind (what Pulumi keeps in the state for deletes). */
export type HookBinding = Partial<Record<HookKind, string[]>>;

interface RegisterHookRequest {
    getName(): string;
    getCallback(): { getTarget(): string; getToken(): string } | undefined;
}
interface RegisterRequest {
    getType(): string;
    getName(): string;
    getHooks(): { getBeforeUpdateList(): string[]; getBeforeDeleteList(): string[] } | undefined;
}
type Callback = (err: Error | null, res: unknown) => void;

const registered = new Map<string, { target: string; token: string }>();
const bindings = new Map<string, HookBinding>();

/** Makes the mock monitor accept hooks and remember which resource (type::name) has which. */
export function emulateHooks(): void {
    const monitor = MockMonitor.prototype as unknown as Record<string, unknown>;
    monitor.registerResourceHook = (req: RegisterHookRequest, done: Callback) => {
        const cb = req.getCallback();
        if (cb) registered.set(req.getName(), { target: cb.getTarget(), token: cb.getToken() });
        done(null, {});
    };
    const registerResource = monitor.registerResource as (this: unknown, req: RegisterRequest, cb: Callback) => unknown;
    monitor.registerResource = function (this: unknown, req: RegisterRequest, cb: Callback) {
        const h = req.getHooks();
        const binding = { beforeUpdate: h?.getBeforeUpdateList() ?? [], beforeDelete: h?.getBeforeDeleteList() ?? [] };
        bindings.set(`${req.getType()}::${req.getName()}`, binding);
        return registerResource.call(this, req, cb);
    };
}

/** The hooks the program bound to `key` (type::name) in this run. */
export function bindingOf(key: string): HookBinding {
    return bindings.get(key) ?? {};
}

export interface HookCall {
    type: string;
    name: string;
    id: string;
    oldInputs?: Props;
    newInputs?: Props;
    oldOutputs?: Props;
    /** Inputs the program made secret: the engine sends them as secrets (the SDK makes them secret Outputs). */
    secretKeys?: string[];
}

/** Properties as the engine sends them, `secret` keys marked secret. */
async function struct(p: Props | undefined, secret: string[] = []): Promise<Struct | undefined> {
    if (!p) return undefined;
    const marked = Object.fromEntries(
        Object.entries(p).map(([k, v]) => [k, secret.includes(k) ? pulumi.secret(v) : v]),
    );
    return Struct.fromJavaScript(await serializeProperties("hook", marked));
}

/** Runs the named hooks one after the other, as the engine does; the first error is thrown. */
export async function runHooks(kind: HookKind, names: string[], call: HookCall): Promise<void> {
    for (const name of names) {
        const cb = registered.get(name);
        if (!cb) throw new Error(`${kind} hook ${name} of ${call.name} is not registered by the program`);
        const req = new ResourceHookRequest()
            .setUrn(`urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::${call.type}::${call.name}`)
            .setId(call.id)
            .setName(call.name)
            .setType(call.type)
            .setOldInputs(await struct(call.oldInputs, call.secretKeys))
            .setNewInputs(await struct(call.newInputs, call.secretKeys))
            .setOldOutputs(await struct(call.oldOutputs));
        const client = new CallbacksClient(cb.target, grpc.credentials.createInsecure());
        const invoke = new CallbackInvokeRequest().setToken(cb.token).setRequest(req.serializeBinary());
        try {
            const res = await new Promise<CallbackInvokeResponse>((resolve, reject) =>
                client.invoke(invoke, (err, r) => (err ? reject(err) : resolve(r))),
            );
            const error = ResourceHookResponse.deserializeBinary(res.getResponse_asU8()).getError();
            if (error) throw new Error(`${kind} hook ${name} failed: ${error}`);
        } finally {
            client.close();
        }
    }
}
