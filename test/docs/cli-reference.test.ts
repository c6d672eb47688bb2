// docs/cli.md's option reference is the CLI's own --help text: regenerate it (npm run docs:cli)
// when a command or an option changes.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { cliReference, readCliDoc } from '../../scripts/cli-docs.ts';

it("docs/cli.md's option reference is what scripts/cli-docs.ts writes from the CLI", () => {
  assert.equal(readCliDoc().generated, cliReference(), 'docs/cli.md is out of date: run npm run docs:cli');
});
