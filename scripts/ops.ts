// `npm run ops -- <command> --stack <name>` (see ops/cli.ts, or `npm run ops -- --help`).
import { main } from "../ops/cli";

main(process.argv.slice(2), { out: (s) => console.log(s), err: (s) => console.error(s) }).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
        console.error(`ops: ${e instanceof Error ? e.message : String(e)}`);
        process.exitCode = 2;
    },
);
