// Reads what components/archive.ts packs (a Command's stdin: base64 of a gzipped tar), with tar-stream.
import * as zlib from "zlib";
import * as tar from "tar-stream";

/** The files (name -> text) in a base64 tar.gz, as `base64 -d | tar -xzf -` would unpack them. */
export async function untarGzBase64(b64: string): Promise<Record<string, string>> {
    const extract = tar.extract();
    const files: Record<string, string> = {};
    const done = new Promise<void>((resolve, reject) => {
        extract.on("entry", (header, stream, next) => {
            const chunks: Buffer[] = [];
            stream.on("data", (c) => void chunks.push(c as Buffer));
            stream.on("end", () => {
                if (header.type === "file") files[header.name] = Buffer.concat(chunks).toString();
                next();
            });
            stream.resume();
        });
        extract.on("finish", resolve);
        extract.on("error", reject);
    });
    extract.end(zlib.gunzipSync(Buffer.from(b64, "base64")));
    await done;
    return files;
}
