#!/usr/bin/env node
// Compile contracts/src/**/*.sol offline with the pinned solc (npm package, standard JSON)
// and write one artifact per contract: artifacts/<Name>.json with the ABI, the creation
// bytecode and the runtime bytecode.
//
// usage: node build.js [OUT_DIR]      (default: artifacts/ beside this file)
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const ROOT = __dirname;
const SRC = path.join(ROOT, "src");
const OUT = path.resolve(process.argv[2] || path.join(ROOT, "artifacts"));
const PINNED = require("./package.json").dependencies.solc;

function sources(dir, rel = "") {
  const found = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    const key = rel ? `${rel}/${name}` : name;
    if (fs.statSync(full).isDirectory()) Object.assign(found, sources(full, key));
    else if (name.endsWith(".sol")) found[key] = { content: fs.readFileSync(full, "utf8") };
  }
  return found;
}

function main() {
  const version = solc.version();
  if (!version.startsWith(`${PINNED}+`)) {
    throw new Error(`expected solc ${PINNED}, got ${version}`);
  }
  const input = {
    language: "Solidity",
    sources: sources(SRC),
    settings: {
      evmVersion: "prague",
      optimizer: { enabled: true, runs: 200 },
      viaIR: false,
      // No metadata hash in the bytecode: artifacts depend on the sources only.
      metadata: { bytecodeHash: "none", appendCBOR: false },
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) process.stderr.write(e.formattedMessage + "\n");
  if (errors.length) process.exit(1);
  fs.mkdirSync(OUT, { recursive: true });
  for (const file of Object.keys(output.contracts).sort()) {
    for (const name of Object.keys(output.contracts[file]).sort()) {
      const c = output.contracts[file][name];
      if (!c.evm.bytecode.object) continue; // interfaces, abstract contracts, libraries inlined
      const artifact = {
        contractName: name,
        sourceName: `src/${file}`,
        compiler: version,
        abi: c.abi,
        bytecode: "0x" + c.evm.bytecode.object,
        deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      };
      fs.writeFileSync(path.join(OUT, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
    }
  }
}

main();
