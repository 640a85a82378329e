// The seed's "Streaming to a Web Application" TypeScript example (a Next.js route
// handler), unchanged but for its imports and the `Promise<Response>` type
// argument the seed's snippet leaves out (it does not compile without one).
import { Readable } from 'node:stream';
import { hatchet } from './client';
import { streamingTask } from './task';

export async function GET(): Promise<Response> {
  try {
    const ref = await streamingTask.runNoWait({});
    const workflowRunId = await ref.getWorkflowRunId();

    const stream = Readable.from(hatchet.runs.subscribeToStream(workflowRunId));

    return new Response(Readable.toWeb(stream), {
      headers: {
        'Content-Type': 'text/plain',
        'Cache-Control': 'no-cache',
        Connection: 'keep-alive',
      },
    });
  } catch (error) {
    return new Response('Internal Server Error', { status: 500 });
  }
}
