// VerifyAuthChallengeResponse: the answer must be the code that was sent.
export const handler = async (event) => {
  event.response.answerCorrect = event.request.challengeAnswer === event.request.privateChallengeParameters.code;
  return event;
};
