// PostConfirmation: copy each confirmed user into the app's own users table, so the app reads
// its users from DynamoDB rather than from Cognito (seed 001). Deployed to Lambda as it is here:
// the Node.js runtime provides the AWS SDK v3; the table name comes from the environment.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';

const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const handler = async (event) => {
  if (event.triggerSource !== 'PostConfirmation_ConfirmSignUp') {
    return event; // a password reset confirms nothing new
  }
  const attributes = event.request.userAttributes;
  await db.send(new PutCommand({
    TableName: process.env.USERS_TABLE,
    Item: {
      userId: attributes.sub,
      username: event.userName,
      email: attributes.email,
      name: attributes.name ?? null,
      createdAt: new Date().toISOString(),
    },
  }));
  console.log(`copied ${event.userName} (${attributes.sub}) into ${process.env.USERS_TABLE}`);
  return event;
};
