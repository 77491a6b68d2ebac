// DefineAuthChallenge: one e-mailed code, three tries.
export const handler = async (event) => {
  const session = event.request.session;
  const last = session[session.length - 1];
  const tries = session.filter((s) => s.challengeName === 'CUSTOM_CHALLENGE').length;
  if (last && last.challengeName === 'CUSTOM_CHALLENGE' && last.challengeResult === true) {
    event.response.issueTokens = true;
    event.response.failAuthentication = false;
  } else if (tries >= 3) {
    event.response.issueTokens = false;
    event.response.failAuthentication = true;
  } else {
    event.response.issueTokens = false;
    event.response.failAuthentication = false;
    event.response.challengeName = 'CUSTOM_CHALLENGE';
  }
  return event;
};
