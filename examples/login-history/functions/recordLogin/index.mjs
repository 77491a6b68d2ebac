// PostAuthentication: record one login-history item per successful sign-in (seed 002). The table
// has userId (partition key) and loginAt (sort key), so a user's history is one Query.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';

const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const handler = async (event) => {
  const { sub, email } = event.request.userAttributes;
  await db.send(new PutCommand({
    TableName: process.env.LOGIN_HISTORY_TABLE,
    Item: {
      userId: sub,
      loginAt: `${new Date().toISOString()}#${randomUUID()}`,
      username: event.userName,
      email,
      clientId: event.callerContext.clientId,
      newDeviceUsed: event.request.newDeviceUsed,
    },
  }));
  return event;
};
