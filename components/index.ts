// The package's entry (package.json main/types, built by `npm run build`): what another Pulumi program
// needs to run a MeteorSite with its own configuration. index.ts at the top is this project's program.
export { configWarnings, loadConfig } from "./config";
export type {
    AppConfig,
    Bundle,
    LbSettings,
    PlacementConfig,
    RawConfig,
    ServicesConfig,
    StackConfig,
    TlsSettings,
} from "./config";
export { MeteorSite } from "./meteorSite";
export type { MeteorSiteArgs } from "./meteorSite";
export { bundleOutput, PromotionError, resolveBundle } from "./promotion";
export type { BundleOutput, ResolveBundleArgs } from "./promotion";
