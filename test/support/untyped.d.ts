// Types for the parts of two untyped client libraries (no @types package) that the sample suite uses.

declare module "simpleddp" {
    class SimpleDDP {
        constructor(opts: { endpoint: string; SocketConstructor: unknown; reconnectInterval?: number });
        connect(): Promise<void>;
        disconnect(): Promise<void>;
        subscribe(name: string, ...params: unknown[]): { ready(): Promise<void> };
        collection<T = Record<string, unknown>>(name: string): { fetch(): T[] };
        call(method: string, ...params: unknown[]): Promise<unknown>;
    }
    export = SimpleDDP;
}

declare module "sockjs-client" {
    class SockJS {
        constructor(url: string, reserved?: null, options?: { transports?: string[] });
        readonly transport: string;
        onopen: () => void;
        onclose: (e: { code: number; reason: string }) => void;
        onmessage: (e: { data: string }) => void;
        send(data: string): void;
        close(): void;
    }
    export = SockJS;
}
