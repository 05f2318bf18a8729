// One jest project per suite so that `npm run test:<suite>` runs one layer of the proof.
const project = (name, extra = {}) => ({
    displayName: name,
    preset: "ts-jest",
    testEnvironment: "node",
    testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
    transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: { warnOnly: false } }] },
    ...extra,
});

module.exports = {
    projects: [
        project("unit"),
        project("nginx"),
        project("host"),
        project("sample"),
        project("workflows"),
        project("letsencrypt"),
        // As root, under the e2e lock: `npm run up -- --local` on this machine (scripts/test.sh runs it as root).
        project("local"),
    ],
};
