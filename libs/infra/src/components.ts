import { InvalidBrokerCountError, UnknownComponentError } from './errors';

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

/** What `infra:up` is asked for on its command line. */
export interface UpCommand {
  components: Set<Component>;
  /** How many Kafka brokers (`--brokers N`, or `--brokers=N`). @default 1 */
  brokers: number;
}

/** `infra:up [--brokers N] [kafka] [postgres]`: the components asked for (default: both) and the cluster's size. */
export function parseUpCommand(args: readonly string[]): UpCommand {
  const components = new Set<Component>();
  let brokers = 1;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const flag = /^--brokers(?:=(.*))?$/.exec(arg);
    if (flag) {
      const value = flag[1] ?? args[++i];
      if (value === undefined || !/^\d+$/.test(value)) throw new InvalidBrokerCountError(`--brokers needs a whole number of brokers (got ${value === undefined ? 'nothing' : `'${value}'`})`);
      brokers = Number(value);
    } else if (arg === 'kafka' || arg === 'postgres') components.add(arg);
    else throw new UnknownComponentError(arg, 'kafka or postgres');
  }
  return { components: components.size > 0 ? components : new Set(['kafka', 'postgres']), brokers };
}

/** `infra:up [kafka] [postgres]`: the components asked for (default: both). */
export function parseUpArgs(args: readonly string[]): Set<Component> {
  return parseUpCommand(args).components;
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
