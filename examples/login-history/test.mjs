import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import { DynamoDBClient, CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { CognitoUserPool, CognitoUser, AuthenticationDetails } from 'amazon-cognito-identity-js';
import { startTobira, startMoto, arn, REGION, CREDENTIALS } from '../_support.mjs';

const HERE = new URL('.', import.meta.url).pathname;
let moto, tobira, cognito, db;

before(async () => {
  moto = await startMoto();
  db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: moto.url, region: REGION, credentials: CREDENTIALS }));
  await db.send(new CreateTableCommand({
    TableName: 'login-history',
    KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }, { AttributeName: 'loginAt', KeyType: 'RANGE' }],
    AttributeDefinitions: [{ AttributeName: 'userId', AttributeType: 'S' }, { AttributeName: 'loginAt', AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
  }));
  tobira = await startTobira({
    dir: HERE,
    functions: { recordLogin: { handler: 'functions/recordLogin/index.handler', environment: { LOGIN_HISTORY_TABLE: 'login-history' } } },
    env: { AWS_ENDPOINT_URL_DYNAMODB: moto.url },
  });
  cognito = new idp.CognitoIdentityProviderClient({ endpoint: tobira.endpoint, region: REGION, credentials: CREDENTIALS });
});

after(async () => {
  await tobira?.stop();
  await moto?.stop();
});

function signIn(pool, username, password) {
  const user = new CognitoUser({ Username: username, Pool: pool });
  return new Promise((resolve, reject) => {
    user.authenticateUser(new AuthenticationDetails({ Username: username, Password: password }), {
      onSuccess: resolve,
      onFailure: reject,
    });
  });
}

test('each sign-in (SRP, as amazon-cognito-identity-js does it) adds a login-history item', async () => {
  const { UserPool } = await cognito.send(new idp.CreateUserPoolCommand({
    PoolName: 'app', UsernameAttributes: ['email'], LambdaConfig: { PostAuthentication: arn('recordLogin') },
  }));
  const { UserPoolClient } = await cognito.send(new idp.CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'spa' }));
  const { User } = await cognito.send(new idp.AdminCreateUserCommand({
    UserPoolId: UserPool.Id, Username: 'hanako@example.com', MessageAction: 'SUPPRESS',
    UserAttributes: [{ Name: 'email', Value: 'hanako@example.com' }, { Name: 'email_verified', Value: 'true' }],
  }));
  await cognito.send(new idp.AdminSetUserPasswordCommand({ UserPoolId: UserPool.Id, Username: 'hanako@example.com', Password: 'Passw0rd!x', Permanent: true }));
  const sub = User.Attributes.find((a) => a.Name === 'sub').Value;

  const pool = new CognitoUserPool({ UserPoolId: UserPool.Id, ClientId: UserPoolClient.ClientId, endpoint: tobira.endpoint });
  await signIn(pool, 'hanako@example.com', 'Passw0rd!x');
  await signIn(pool, 'hanako@example.com', 'Passw0rd!x');
  await assert.rejects(signIn(pool, 'hanako@example.com', 'wrong-Passw0rd'), { code: 'NotAuthorizedException' });

  const { Items } = await db.send(new QueryCommand({
    TableName: 'login-history', KeyConditionExpression: 'userId = :u', ExpressionAttributeValues: { ':u': sub },
  }));
  assert.equal(Items.length, 2, 'two successful sign-ins, two items; the failed one wrote nothing');
  for (const item of Items) {
    assert.equal(item.email, 'hanako@example.com');
    assert.equal(item.clientId, UserPoolClient.ClientId);
  }
  const sources = (await tobira.invocations(UserPool.Id)).map((i) => `${i.source}:${i.outcome}`);
  assert.deepEqual(sources, ['PostAuthentication_Authentication:ok', 'PostAuthentication_Authentication:ok']);
});
