// CreateAuthChallenge: make a 6-digit code, e-mail it once, and keep it (in challengeMetadata)
// for the retries of the same sign-in. The mail goes through the mail provider's HTTP API.
import { randomInt } from 'node:crypto';

async function sendMail(to, subject, text) {
  const res = await fetch(process.env.MAIL_API_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${process.env.MAIL_API_KEY}` },
    body: JSON.stringify({ from: 'no-reply@example.com', to, subject, text }),
  });
  if (!res.ok) throw new Error(`mail API answered ${res.status}`);
}

export const handler = async (event) => {
  const previous = event.request.session.filter((s) => s.challengeName === 'CUSTOM_CHALLENGE').pop();
  let code;
  if (previous?.challengeMetadata?.startsWith('CODE-')) {
    code = previous.challengeMetadata.slice(5);
  } else {
    code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await sendMail(event.request.userAttributes.email, 'Your sign-in code', `Your sign-in code is ${code}`);
  }
  event.response.publicChallengeParameters = { email: event.request.userAttributes.email };
  event.response.privateChallengeParameters = { code };
  event.response.challengeMetadata = `CODE-${code}`;
  return event;
};
