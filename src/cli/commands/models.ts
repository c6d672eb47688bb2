import { describeCardEval, embeddedModelsDir, listEmbeddedModels } from '../../infer/embedded.ts';

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export async function run(opts: Record<string, unknown>): Promise<number> {
  const models = (await listEmbeddedModels()).sort((a, b) => Number(b.isDefault) - Number(a.isDefault));
  if (opts.json) {
    const out = models.map((m) => ({
      name: m.name,
      default: m.isDefault,
      path: m.path,
      sizeBytes: m.sizeBytes,
      directions: Object.keys(m.manifest.directions),
      card: m.card,
    }));
    console.log(JSON.stringify(out, null, 2));
    return 0;
  }
  if (models.length === 0) {
    console.log(`no embedded models in ${embeddedModelsDir()}`);
    return 0;
  }
  for (const m of models) {
    const directions = Object.keys(m.manifest.directions).join(', ');
    console.log(
      `${m.name}${m.isDefault ? ' (default)' : ''} · ${m.card.title} · ${directions} · ${m.manifest.generator ?? '?'} · ${mib(m.sizeBytes)} on disk`,
    );
    if (m.card.description) console.log(`  ${m.card.description}`);
    if (m.card.data)
      console.log(
        `  data: ${m.card.data.name}${m.card.data.split ? ` (${m.card.data.split})` : ''}${m.card.data.terms ? ` · terms: ${m.card.data.terms}` : ''}`,
      );
    if (m.card.steps !== undefined || m.card.cpuHours !== undefined) {
      console.log(`  trained: ${m.card.steps ?? '?'} steps, ${m.card.cpuHours?.toFixed(1) ?? '?'} CPU hours`);
    }
    for (const line of describeCardEval(m.card)) console.log(`  ${line}`);
    for (const limit of m.card.limits ?? []) console.log(`  limit: ${limit}`);
    console.log(`  ${m.path}`);
  }
  return 0;
}
