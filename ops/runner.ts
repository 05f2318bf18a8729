// `npm run ops`'s runner: lib/sshRunner.ts's, for the hosts of a stack's `ops` output.
import { Runner as SshRunner } from "../lib/sshRunner";
import type { OpsTarget } from "./target";

export type { Result } from "../lib/sshRunner";

export class Runner extends SshRunner<OpsTarget> {}
