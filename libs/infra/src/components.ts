import { UnknownComponentError } from './errors';

/** What infra:up starts natively, one by one. */
export type Component = 'kafka' | 'postgres';
/** What infra:down stops: also the Compose project, which holds both. */
export type StoppableComponent = Component | 'docker';
/** How a component was started: empty, or on the data a previous run kept. */
export type StartState = 'fresh' | 'kept';

/** One component a run started itself, and on what. */
export interface Started {
  component: StoppableComponent;
  state: StartState;
}

/** `infra:up [kafka] [postgres]`: the components asked for (default: both). */
export function parseUpArgs(args: readonly string[]): Set<Component> {
  if (args.length === 0) return new Set(['kafka', 'postgres']);
  const wanted = new Set<Component>();
  for (const arg of args) {
    if (arg !== 'kafka' && arg !== 'postgres') throw new UnknownComponentError(arg, 'kafka or postgres');
    wanted.add(arg);
  }
  return wanted;
}

/** `infra:down [--wipe] [docker] [kafka] [postgres]` (default: all three), in the order given. */
export function parseDownArgs(args: readonly string[]): { wipe: boolean; components: StoppableComponent[] } {
  let wipe = false;
  const components: StoppableComponent[] = [];
  for (const arg of args) {
    if (arg === '--wipe') wipe = true;
    else if (arg === 'docker' || arg === 'kafka' || arg === 'postgres') components.push(arg);
    else throw new UnknownComponentError(arg, 'docker, kafka or postgres');
  }
  return { wipe, components: components.length > 0 ? components : ['docker', 'kafka', 'postgres'] };
}

/** A line of CHUTE_INFRA_STARTED_FILE: "<component> fresh|kept". */
export function formatStartedLine({ component, state }: Started): string {
  return `${component} ${state}\n`;
}

/** CHUTE_INFRA_STARTED_FILE's lines; lines it does not know are skipped. */
export function parseStartedFile(text: string): Started[] {
  const started: Started[] = [];
  for (const line of text.split('\n')) {
    const [component, state] = line.trim().split(/\s+/);
    if ((component === 'docker' || component === 'kafka' || component === 'postgres') && (state === 'fresh' || state === 'kept')) {
      started.push({ component, state });
    }
  }
  return started;
}

/** Say how a session found its infrastructure: "kafka (empty) postgres (on its kept data) ". */
export function describeStarted(started: readonly Started[]): string {
  const names = [...new Set(started.map(({ component, state }) => `${component} (${state === 'fresh' ? 'empty' : 'on its kept data'})`))].sort();
  return names.map((name) => `${name} `).join('');
}
