// Seed 003's program: a user pool sign-in turned into temporary AWS credentials through an
// identity pool, an IAM role with a web-identity trust policy, and STS GetCallerIdentity.
// It runs unchanged against tobira: the endpoint comes from AWS_ENDPOINT_URL, the region from
// AWS_REGION, the user from EmailAddress / password.
const {
  CognitoIdentityProviderClient,
  CreateUserPoolCommand,
  CreateUserPoolClientCommand,
  SignUpCommand,
  AdminConfirmSignUpCommand,
  AdminInitiateAuthCommand,
} = require("@aws-sdk/client-cognito-identity-provider");

const {
  CognitoIdentityClient,
  CreateIdentityPoolCommand,
  GetIdCommand,
  GetCredentialsForIdentityCommand,
  SetIdentityPoolRolesCommand,
} = require("@aws-sdk/client-cognito-identity");

const {
  IAMClient,
  CreatePolicyCommand,
  CreateRoleCommand,
  AttachRolePolicyCommand,
} = require("@aws-sdk/client-iam");

const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");

exports.handler = async function (event, context) {
  const cognitoIdpClient = new CognitoIdentityProviderClient();

  // CreateUserPool
  let input = {
    PoolName: "test",
    AutoVerifiedAttributes: ["email"],
    UsernameAttributes: ["email"],
  };
  let command = new CreateUserPoolCommand(input);
  const userPool = await cognitoIdpClient.send(command);

  // CreateUserPoolClient
  input = {
    UserPoolId: userPool.UserPool.Id,
    ClientName: "test",
    ExplicitAuthFlows: [
      "ALLOW_ADMIN_USER_PASSWORD_AUTH",
      "ALLOW_USER_SRP_AUTH",
      "ALLOW_REFRESH_TOKEN_AUTH",
      "ALLOW_USER_AUTH",
    ],
  };
  command = new CreateUserPoolClientCommand(input);
  const userPoolClient = await cognitoIdpClient.send(command);

  // SignUp
  input = {
    ClientId: userPoolClient.UserPoolClient.ClientId,
    Username: process.env.EmailAddress,
    Password: process.env.password,
    UserAttributes: [
      {
        Name: "email",
        Value: process.env.EmailAddress,
      },
    ],
  };
  command = new SignUpCommand(input);
  await cognitoIdpClient.send(command);

  // AdminConfirmSignUp
  input = {
    UserPoolId: userPool.UserPool.Id,
    Username: process.env.EmailAddress,
  };
  command = new AdminConfirmSignUpCommand(input);
  await cognitoIdpClient.send(command);

  const cognitoIdClient = new CognitoIdentityClient();

  //CreateIdentityPool
  input = {
    IdentityPoolName: "test",
    AllowUnauthenticatedIdentities: false,
    AllowClassicFlow: true,
    CognitoIdentityProviders: [
      {
        ProviderName: `cognito-idp.ap-northeast-1.amazonaws.com/${userPool.UserPool.Id}`,
        ClientId: userPoolClient.UserPoolClient.ClientId,
        ServerSideTokenCheck: false,
      },
    ],
  };
  command = new CreateIdentityPoolCommand(input);
  const identityPool = await cognitoIdClient.send(command);

  const iamclient = new IAMClient();

  //CreatePolicy
  input = {
    PolicyName: "userpool-authorized-policy",
    Path: "/service-role/",
    PolicyDocument: JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Action: "*",
          Resource: "*",
        },
      ],
    }),
  };
  command = new CreatePolicyCommand(input);
  const policy = await iamclient.send(command);

  // CreateRole
  input = {
    Path: "/service-role/",
    RoleName: "userpool-authorized-role",
    AssumeRolePolicyDocument: JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Action: "sts:AssumeRoleWithWebIdentity",
          Principal: {
            Federated: "cognito-identity.amazonaws.com",
          },
          Condition: {
            StringEquals: {
              "cognito-identity.amazonaws.com:aud": identityPool.IdentityPoolId,
            },
            "ForAnyValue:StringLike": {
              "cognito-identity.amazonaws.com:amr": "authenticated",
            },
          },
        },
      ],
    }),
  };
  command = new CreateRoleCommand(input);
  const role = await iamclient.send(command);

  // AttachRolePolicy
  input = {
    RoleName: role.Role.RoleName,
    PolicyArn: policy.Policy.Arn,
  };
  command = new AttachRolePolicyCommand(input);
  await iamclient.send(command);

  // SetIdentityPoolRoles
  input = {
    IdentityPoolId: identityPool.IdentityPoolId,
    Roles: {
      authenticated: role.Role.Arn,
    },
  };
  command = new SetIdentityPoolRolesCommand(input);
  await cognitoIdClient.send(command);

  // AdminInitiateAuth
  input = {
    UserPoolId: userPool.UserPool.Id,
    ClientId: userPoolClient.UserPoolClient.ClientId,
    AuthFlow: "ADMIN_USER_PASSWORD_AUTH",
    AuthParameters: {
      USERNAME: process.env.EmailAddress,
      PASSWORD: process.env.password,
    },
  };
  command = new AdminInitiateAuthCommand(input);
  const idpClient = await cognitoIdpClient.send(command);

  // GetId
  input = {
    IdentityPoolId: identityPool.IdentityPoolId,
    Logins: {
      [`cognito-idp.ap-northeast-1.amazonaws.com/${userPool.UserPool.Id}`]:
        idpClient.AuthenticationResult.IdToken,
    },
  };
  command = new GetIdCommand(input);
  const identityId = await cognitoIdClient.send(command);

  // GetCredentialsForIdentity
  input = {
    IdentityId: identityId.IdentityId,
    Logins: {
      [`cognito-idp.ap-northeast-1.amazonaws.com/${userPool.UserPool.Id}`]:
        idpClient.AuthenticationResult.IdToken,
    },
  };

  await new Promise((resolve) => setTimeout(resolve, 10000));

  command = new GetCredentialsForIdentityCommand(input);
  const credentials = await cognitoIdClient.send(command);

  // GetCallerIdentity
  const stsClient = new STSClient({
    region: "ap-northeast-1",
    credentials: {
      accessKeyId: credentials.Credentials.AccessKeyId,
      secretAccessKey: credentials.Credentials.SecretKey,
      sessionToken: credentials.Credentials.SessionToken,
    },
  });
  command = new GetCallerIdentityCommand();
  const response = await stsClient.send(command);

  return response;
};
