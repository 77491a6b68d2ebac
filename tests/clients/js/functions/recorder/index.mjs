// A trigger handler for the tests: records every event it receives (with its function name) in
// $RECORD_DIR/events.jsonl and answers as $RECORD_DIR/answers.json says for the trigger source
// (or the function name): {response: {...}} merged into the event's response, {throw: "message"},
// {hang: true}, {exit: code}, {garbage: true}, {spawnSleeper: true} (leaves a child process),
// {define: true} (a DefineAuthChallenge deciding from the session).
import { appendFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

export const handler = async (event, context) => {
  const dir = process.env.RECORD_DIR;
  appendFileSync(join(dir, 'events.jsonl'), JSON.stringify({ fn: context.functionName, remainingMs: context.getRemainingTimeInMillis(), event }) + '\n');
  const file = join(dir, 'answers.json');
  const answers = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const a = answers[event.triggerSource] ?? answers[context.functionName] ?? {};
  if (a.spawnSleeper) {
    const child = spawn('sleep', ['300'], { stdio: 'ignore' });
    appendFileSync(join(dir, 'sleepers.txt'), `${child.pid}\n`);
  }
  if (a.throw) throw new Error(a.throw);
  if (a.hang) await new Promise(() => {});
  if (a.exit !== undefined) process.exit(a.exit);
  if (a.garbage) return 'this is not the event';
  if (a.response) Object.assign(event.response, a.response);
  if (a.define) {
    // A DefineAuthChallenge that decides from the session, as real ones do: SRP first when the
    // client started with SRP_A, then one custom challenge (three tries), then tokens.
    const s = event.request.session;
    const last = s[s.length - 1];
    const wrong = s.filter((x) => x.challengeName === 'CUSTOM_CHALLENGE' && !x.challengeResult).length;
    event.response.issueTokens = false;
    event.response.failAuthentication = false;
    if (last?.challengeName === 'SRP_A') event.response.challengeName = 'PASSWORD_VERIFIER';
    else if (last?.challengeName === 'CUSTOM_CHALLENGE' && last.challengeResult) event.response.issueTokens = true;
    else if (wrong >= 3) event.response.failAuthentication = true;
    else event.response.challengeName = 'CUSTOM_CHALLENGE';
  }
  return event;
};
