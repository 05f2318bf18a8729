// Entry point, as in a `meteor build --server-only` bundle: systemd runs `node main.js` in bundle/.
"use strict";
require("./programs/server/boot.js");
