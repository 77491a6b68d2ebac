import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import Stripe from 'stripe';
import { startTobira, startLocalstripe, arn, REGION, CREDENTIALS } from '../_support.mjs';

const HERE = new URL('.', import.meta.url).pathname;
const STRIPE_KEY = 'sk_test_tobira_examples';
let stripeMock, tobira, cognito, stripe;

before(async () => {
  stripeMock = await startLocalstripe();
  stripe = new Stripe(STRIPE_KEY, { host: '127.0.0.1', port: stripeMock.port, protocol: 'http' });
  tobira = await startTobira({
    dir: HERE,
    functions: {
      createStripeCustomer: {
        handler: 'functions/createStripeCustomer/index.handler',
        environment: { STRIPE_SECRET_KEY: STRIPE_KEY, STRIPE_API_URL: stripeMock.url },
      },
    },
  });
  cognito = new idp.CognitoIdentityProviderClient({ endpoint: tobira.endpoint, region: REGION, credentials: CREDENTIALS });
});

after(async () => {
  await tobira?.stop();
  await stripeMock?.stop();
});

test('a confirmed user gets a Stripe customer, and its id comes back as custom:customerId', async () => {
  const { UserPool } = await cognito.send(new idp.CreateUserPoolCommand({
    PoolName: 'saas', AutoVerifiedAttributes: ['email'],
    Schema: [{ Name: 'customerId', AttributeDataType: 'String', Mutable: true }],
    LambdaConfig: { PostConfirmation: arn('createStripeCustomer') },
  }));
  const { UserPoolClient } = await cognito.send(new idp.CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'web' }));
  await cognito.send(new idp.SignUpCommand({
    ClientId: UserPoolClient.ClientId, Username: 'john', Password: 'Passw0rd!x', UserAttributes: [{ Name: 'email', Value: 'john@example.com' }],
  }));
  assert.equal((await stripe.customers.list({ email: 'john@example.com' })).data.length, 0, 'no customer before confirmation');

  const [message] = await tobira.inbox(UserPool.Id, 'john');
  await cognito.send(new idp.ConfirmSignUpCommand({ ClientId: UserPoolClient.ClientId, Username: 'john', ConfirmationCode: message.code }));

  const user = await cognito.send(new idp.AdminGetUserCommand({ UserPoolId: UserPool.Id, Username: 'john' }));
  const customerId = user.UserAttributes.find((a) => a.Name === 'custom:customerId')?.Value;
  assert.match(customerId ?? '', /^cus_/);
  const customer = await stripe.customers.retrieve(customerId);
  assert.equal(customer.email, 'john@example.com');
  assert.equal(customer.name, 'john');
  assert.deepEqual(customer.metadata, { cognitoUsername: 'john' });
});
