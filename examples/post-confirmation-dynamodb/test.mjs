import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import { DynamoDBClient, CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { startTobira, startMoto, arn, REGION, CREDENTIALS } from '../_support.mjs';

const HERE = new URL('.', import.meta.url).pathname;
let moto, tobira, cognito, db;

before(async () => {
  moto = await startMoto();
  db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: moto.url, region: REGION, credentials: CREDENTIALS }));
  await db.send(new CreateTableCommand({
    TableName: 'users',
    KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: 'userId', AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
  }));
  tobira = await startTobira({
    dir: HERE,
    functions: { copyUserToDynamo: { handler: 'functions/copyUserToDynamo/index.handler', environment: { USERS_TABLE: 'users' } } },
    // The handler's SDK finds DynamoDB here, as it would find the real one on Lambda.
    env: { AWS_ENDPOINT_URL_DYNAMODB: moto.url },
  });
  cognito = new idp.CognitoIdentityProviderClient({ endpoint: tobira.endpoint, region: REGION, credentials: CREDENTIALS });
});

after(async () => {
  await tobira?.stop();
  await moto?.stop();
});

test('a confirmed sign-up is copied into the DynamoDB users table', async () => {
  const { UserPool } = await cognito.send(new idp.CreateUserPoolCommand({
    PoolName: 'app', AutoVerifiedAttributes: ['email'],
    LambdaConfig: { PostConfirmation: arn('copyUserToDynamo') },
  }));
  const { UserPoolClient } = await cognito.send(new idp.CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'web' }));
  const { UserSub } = await cognito.send(new idp.SignUpCommand({
    ClientId: UserPoolClient.ClientId, Username: 'taro', Password: 'Passw0rd!x',
    UserAttributes: [{ Name: 'email', Value: 'taro@example.com' }, { Name: 'name', Value: 'Taro Yamada' }],
  }));
  // Not confirmed yet: nothing copied.
  assert.equal((await db.send(new ScanCommand({ TableName: 'users' }))).Count, 0);

  const [message] = await tobira.inbox(UserPool.Id, 'taro');
  await cognito.send(new idp.ConfirmSignUpCommand({ ClientId: UserPoolClient.ClientId, Username: 'taro', ConfirmationCode: message.code }));

  const { Item } = await db.send(new GetCommand({ TableName: 'users', Key: { userId: UserSub } }));
  assert.equal(Item.username, 'taro');
  assert.equal(Item.email, 'taro@example.com');
  assert.equal(Item.name, 'Taro Yamada');
  const [inv] = await tobira.invocations(UserPool.Id);
  assert.equal(inv.source, 'PostConfirmation_ConfirmSignUp');
  assert.equal(inv.outcome, 'ok');
  assert.match(tobira.log(), /copied taro/, 'the handler\'s console output is in tobira\'s log');
});
