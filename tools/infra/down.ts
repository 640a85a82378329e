// `npm run infra:down [-- --wipe] [docker] [kafka] [postgres]` (default: all
// three): stops exactly what infra:up started in this checkout and nothing
// else (InfraDown in @chute/infra). The broker's log and PostgreSQL's cluster
// are kept for the next up; --wipe deletes them (Docker's volumes always go).
import { InfraDown, InfraLayout, parseDownArgs, settingsFromEnv, stderrReporter } from '@chute/infra';
import { root, runScript } from './script';

runScript(async () => {
  const request = parseDownArgs(process.argv.slice(2));
  const settings = settingsFromEnv(process.env);
  await new InfraDown(new InfraLayout(root, settings.tempDir), settings, stderrReporter).run(request);
  return 0;
});
