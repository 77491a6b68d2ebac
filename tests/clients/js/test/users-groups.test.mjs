// ListUsers, groups, and administrator-created users (NEW_PASSWORD_REQUIRED).

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  ListUsersCommand,
  CreateGroupCommand,
  GetGroupCommand,
  UpdateGroupCommand,
  ListGroupsCommand,
  DeleteGroupCommand,
  AdminAddUserToGroupCommand,
  AdminRemoveUserFromGroupCommand,
  AdminListGroupsForUserCommand,
  ListUsersInGroupCommand,
  AdminCreateUserCommand,
  AdminGetUserCommand,
  AdminInitiateAuthCommand,
  AdminRespondToAuthChallengeCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import {
  useTobira, decodeJwt, attrMap, body, uniq, UUID_RE, expectCognitoError, readInbox, waitForMessage, secretHash,
} from '../harness.mjs';
import {
  createEmailPool, createAppClient, adminCreateConfirmedUser, App, PASSWORD, PASSWORD_2,
} from '../fixtures.mjs';

describe('ListUsers', () => {
  const t = useTobira();
  let poolId;
  const tag = uniq(3);
  const emails = {
    alice1: `alice.smith.${tag}@example.com`,
    alice2: `alice.jones.${tag}@example.com`,
    bob: `bob.${tag}@example.com`,
    carol: `carol.${tag}@example.org`,
  };
  const subs = {};

  before(async () => {
    poolId = await createEmailPool(t.client);
    for (const [k, e] of Object.entries(emails)) {
      subs[k] = await adminCreateConfirmedUser(t.client, poolId, e, PASSWORD, [{ Name: 'name', Value: k }]);
    }
  });

  it('Users have Cognito\'s shape', async () => {
    const out = await t.client.send(new ListUsersCommand({ UserPoolId: poolId }));
    assert.equal(out.Users.length, 4);
    assert.equal(out.PaginationToken, undefined, 'no PaginationToken when everything fits');
    for (const u of out.Users) {
      assert.match(u.Username, UUID_RE, 'Username is the sub');
      assert.equal(u.Enabled, true);
      assert.equal(u.UserStatus, 'CONFIRMED');
      assert.ok(u.UserCreateDate instanceof Date && !Number.isNaN(u.UserCreateDate.getTime()));
      assert.ok(u.UserLastModifiedDate instanceof Date && !Number.isNaN(u.UserLastModifiedDate.getTime()));
      const a = attrMap(u.Attributes);
      assert.equal(a.sub, u.Username);
      assert.ok(Object.values(emails).includes(a.email));
      assert.equal(u.UserAttributes, undefined, 'ListUsers uses Attributes, not UserAttributes');
    }
  });

  it('Filter email = "…" finds exactly that user', async () => {
    const out = await t.client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: `email = "${emails.bob}"` }));
    assert.equal(out.Users.length, 1, JSON.stringify(out.Users));
    assert.equal(out.Users[0].Username, subs.bob);
    assert.equal(attrMap(out.Users[0].Attributes).email, emails.bob);
  });

  it('Filter without spaces around = works too', async () => {
    const out = await t.client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: `email="${emails.carol}"` }));
    assert.deepEqual(out.Users.map((u) => u.Username), [subs.carol]);
  });

  it('Filter with no match returns an empty list', async () => {
    const out = await t.client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: `email = "nobody.${tag}@example.com"` }));
    assert.deepEqual(out.Users, []);
  });

  it('Filter email ^= "prefix" is a prefix search', async () => {
    const out = await t.client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: 'email ^= "alice."' }));
    assert.deepEqual(out.Users.map((u) => u.Username).sort(), [subs.alice1, subs.alice2].sort());
    const none = await t.client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: 'email ^= "smith"' }));
    assert.deepEqual(none.Users, [], '^= matches only at the start');
  });

  it('Filter on sub and on username', async () => {
    const bySub = await t.client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: `sub = "${subs.alice2}"` }));
    assert.deepEqual(bySub.Users.map((u) => u.Username), [subs.alice2]);
    const byName = await t.client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: `username = "${subs.carol}"` }));
    assert.deepEqual(byName.Users.map((u) => u.Username), [subs.carol]);
  });

  it('AttributesToGet returns only the named attributes', async () => {
    const out = await t.client.send(new ListUsersCommand({ UserPoolId: poolId, AttributesToGet: ['email'] }));
    assert.equal(out.Users.length, 4);
    for (const u of out.Users) {
      assert.deepEqual(Object.keys(attrMap(u.Attributes)), ['email']);
      assert.match(u.Username, UUID_RE);
    }
  });

  it('Limit + PaginationToken page through every user once', async () => {
    const seen = [];
    let token;
    let pages = 0;
    do {
      const out = await t.client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 2, PaginationToken: token }));
      assert.ok(out.Users.length <= 2, `page ${pages} has ${out.Users.length} users, Limit was 2`);
      if (pages === 0) {
        assert.equal(out.Users.length, 2);
        assert.equal(typeof out.PaginationToken, 'string', 'first page of 4 users with Limit 2 has a PaginationToken');
      }
      seen.push(...out.Users.map((u) => u.Username));
      token = out.PaginationToken;
      pages += 1;
      assert.ok(pages <= 4, 'pagination terminates');
    } while (token);
    assert.ok(pages >= 2, 'more than one page');
    assert.equal(new Set(seen).size, seen.length, `no duplicates: ${seen}`);
    assert.deepEqual([...seen].sort(), Object.values(subs).sort());
  });

  it('Limit 1 with a prefix filter pages through the matches', async () => {
    const seen = [];
    let token;
    let pages = 0;
    do {
      const out = await t.client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 1, Filter: 'email ^= "a"', PaginationToken: token }));
      seen.push(...out.Users.map((u) => u.Username));
      token = out.PaginationToken;
      pages += 1;
      assert.ok(pages <= 4, 'pagination terminates');
    } while (token);
    assert.deepEqual([...seen].sort(), [subs.alice1, subs.alice2].sort());
  });

  it('Limit 100 is refused with Cognito\'s validation message', async () => {
    await expectCognitoError(
      t.client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 100 })),
      'InvalidParameterException',
      "1 validation error detected: Value '100' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 60",
    );
  });
});

describe('groups', () => {
  const t = useTobira();
  let poolId;
  let app;
  const email = `grouped.${uniq(4)}@example.com`;
  let sub;

  before(async () => {
    poolId = await createEmailPool(t.client);
    app = new App(t.client, t.endpoint, poolId, await createAppClient(t.client, poolId, { secret: false }));
    sub = await adminCreateConfirmedUser(t.client, poolId, email);
  });

  it('CreateGroup returns the group', async () => {
    const out = await t.client.send(new CreateGroupCommand({
      UserPoolId: poolId, GroupName: 'admins', Description: 'Administrators', Precedence: 1,
    }));
    const g = out.Group;
    assert.equal(g.GroupName, 'admins');
    assert.equal(g.UserPoolId, poolId);
    assert.equal(g.Description, 'Administrators');
    assert.equal(g.Precedence, 1);
    assert.ok(g.CreationDate instanceof Date && !Number.isNaN(g.CreationDate.getTime()));
    assert.ok(g.LastModifiedDate instanceof Date && !Number.isNaN(g.LastModifiedDate.getTime()));
    await t.client.send(new CreateGroupCommand({ UserPoolId: poolId, GroupName: 'editors', Precedence: 5 }));
  });

  it('CreateGroup with an existing name is GroupExistsException', async () => {
    await expectCognitoError(
      t.client.send(new CreateGroupCommand({ UserPoolId: poolId, GroupName: 'admins' })),
      'GroupExistsException', undefined,
    );
  });

  it('AdminAddUserToGroup, then both tokens carry cognito:groups', async () => {
    const out = await t.client.send(new AdminAddUserToGroupCommand({ UserPoolId: poolId, Username: email, GroupName: 'admins' }));
    assert.deepEqual(body(out), {});
    await t.client.send(new AdminAddUserToGroupCommand({ UserPoolId: poolId, Username: sub, GroupName: 'editors' }));
    const r = (await app.signIn(email)).AuthenticationResult;
    const id = decodeJwt(r.IdToken).payload;
    const access = decodeJwt(r.AccessToken).payload;
    assert.ok(Array.isArray(id['cognito:groups']), 'cognito:groups is an array in the ID token');
    assert.ok(Array.isArray(access['cognito:groups']), 'cognito:groups is an array in the access token');
    assert.deepEqual([...id['cognito:groups']].sort(), ['admins', 'editors']);
    assert.deepEqual([...access['cognito:groups']].sort(), ['admins', 'editors']);
  });

  it('ListUsersInGroup lists the member', async () => {
    const out = await t.client.send(new ListUsersInGroupCommand({ UserPoolId: poolId, GroupName: 'admins' }));
    assert.equal(out.Users.length, 1);
    assert.equal(out.Users[0].Username, sub);
    assert.equal(attrMap(out.Users[0].Attributes).email, email);
    assert.equal(out.Users[0].UserStatus, 'CONFIRMED');
  });

  it('AdminListGroupsForUser lists the user\'s groups', async () => {
    const out = await t.client.send(new AdminListGroupsForUserCommand({ UserPoolId: poolId, Username: email }));
    assert.deepEqual(out.Groups.map((g) => g.GroupName).sort(), ['admins', 'editors']);
    for (const g of out.Groups) assert.equal(g.UserPoolId, poolId);
  });

  it('GetGroup and UpdateGroup', async () => {
    const got = await t.client.send(new GetGroupCommand({ UserPoolId: poolId, GroupName: 'admins' }));
    assert.equal(got.Group.GroupName, 'admins');
    assert.equal(got.Group.Description, 'Administrators');
    assert.equal(got.Group.Precedence, 1);

    const upd = await t.client.send(new UpdateGroupCommand({
      UserPoolId: poolId, GroupName: 'admins', Description: 'Site administrators', Precedence: 2,
    }));
    assert.equal(upd.Group.Description, 'Site administrators');
    assert.equal(upd.Group.Precedence, 2);
    const again = await t.client.send(new GetGroupCommand({ UserPoolId: poolId, GroupName: 'admins' }));
    assert.equal(again.Group.Description, 'Site administrators');
    assert.equal(again.Group.Precedence, 2);
  });

  it('ListGroups lists both groups', async () => {
    const out = await t.client.send(new ListGroupsCommand({ UserPoolId: poolId }));
    assert.deepEqual(out.Groups.map((g) => g.GroupName).sort(), ['admins', 'editors']);
  });

  it('AdminRemoveUserFromGroup removes the membership and the claim', async () => {
    const out = await t.client.send(new AdminRemoveUserFromGroupCommand({ UserPoolId: poolId, Username: email, GroupName: 'editors' }));
    assert.deepEqual(body(out), {});
    const groups = await t.client.send(new AdminListGroupsForUserCommand({ UserPoolId: poolId, Username: email }));
    assert.deepEqual(groups.Groups.map((g) => g.GroupName), ['admins']);
    const members = await t.client.send(new ListUsersInGroupCommand({ UserPoolId: poolId, GroupName: 'editors' }));
    assert.deepEqual(members.Users, []);
    const r = (await app.signIn(email)).AuthenticationResult;
    assert.deepEqual(decodeJwt(r.AccessToken).payload['cognito:groups'], ['admins']);
    assert.deepEqual(decodeJwt(r.IdToken).payload['cognito:groups'], ['admins']);
  });

  it('DeleteGroup deletes the group and its memberships', async () => {
    const out = await t.client.send(new DeleteGroupCommand({ UserPoolId: poolId, GroupName: 'admins' }));
    assert.deepEqual(body(out), {});
    await expectCognitoError(
      t.client.send(new GetGroupCommand({ UserPoolId: poolId, GroupName: 'admins' })),
      'ResourceNotFoundException', undefined,
    );
    const list = await t.client.send(new ListGroupsCommand({ UserPoolId: poolId }));
    assert.deepEqual(list.Groups.map((g) => g.GroupName), ['editors']);
    const groups = await t.client.send(new AdminListGroupsForUserCommand({ UserPoolId: poolId, Username: email }));
    assert.deepEqual(groups.Groups, []);
    const r = (await app.signIn(email)).AuthenticationResult;
    assert.equal(decodeJwt(r.AccessToken).payload['cognito:groups'], undefined, 'no groups, no claim');
    assert.equal(decodeJwt(r.IdToken).payload['cognito:groups'], undefined, 'no groups, no claim');
  });
});

describe('AdminCreateUser and NEW_PASSWORD_REQUIRED', () => {
  const t = useTobira();
  let poolId;
  let clientId;
  let clientSecret;
  const email = `invited.${uniq(4)}@example.com`;
  const TEMP = 'Temp-Passw0rd!';
  const s = {};

  before(async () => {
    poolId = await createEmailPool(t.client);
    ({ clientId, clientSecret } = await createAppClient(t.client, poolId, { secret: true }));
  });

  it('AdminCreateUser with SUPPRESS gives a FORCE_CHANGE_PASSWORD user whose Username is the sub', async () => {
    const out = await t.client.send(new AdminCreateUserCommand({
      UserPoolId: poolId,
      Username: email,
      TemporaryPassword: TEMP,
      MessageAction: 'SUPPRESS',
      UserAttributes: [{ Name: 'email', Value: email }],
    }));
    const u = out.User;
    assert.equal(u.UserStatus, 'FORCE_CHANGE_PASSWORD');
    assert.equal(u.Enabled, true);
    assert.match(u.Username, UUID_RE, 'Username is a generated UUID in an email-as-username pool');
    const a = attrMap(u.Attributes);
    assert.equal(a.email, email);
    assert.equal(a.sub, u.Username, 'sub equals the Username');
    assert.equal(a.email_verified, undefined, 'AdminCreateUser does not add email_verified');
    assert.ok(u.UserCreateDate instanceof Date);
    assert.equal(u.UserCreateDate.getTime(), u.UserLastModifiedDate.getTime(), 'created == last modified at creation');
    s.sub = u.Username;
  });

  it('AdminInitiateAuth with the temporary password returns NEW_PASSWORD_REQUIRED', async () => {
    const out = await t.client.send(new AdminInitiateAuthCommand({
      UserPoolId: poolId,
      ClientId: clientId,
      AuthFlow: 'ADMIN_USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD: TEMP, SECRET_HASH: secretHash(clientSecret, email, clientId) },
    }));
    assert.equal(out.ChallengeName, 'NEW_PASSWORD_REQUIRED');
    assert.equal(out.AuthenticationResult, undefined);
    assert.equal(typeof out.Session, 'string');
    assert.ok(out.Session.length >= 20, 'Session is an opaque token');
    const p = out.ChallengeParameters;
    assert.deepEqual(Object.keys(p).sort(), ['USER_ID_FOR_SRP', 'requiredAttributes', 'userAttributes'],
      'exactly these challenge parameters (no USERNAME)');
    assert.equal(p.USER_ID_FOR_SRP, s.sub);
    assert.equal(p.requiredAttributes, '[]');
    assert.equal(typeof p.userAttributes, 'string', 'userAttributes is a JSON string');
    const ua = JSON.parse(p.userAttributes);
    assert.equal(typeof ua, 'object');
    assert.ok(!Array.isArray(ua));
    assert.equal(ua.email, email);
    assert.equal(ua.sub, undefined, 'sub is not echoed in userAttributes');
    s.session = out.Session;
  });

  it('SUPPRESS sent no message', async () => {
    assert.deepEqual(await readInbox(t.endpoint, poolId, email), []);
  });

  it('AdminRespondToAuthChallenge NEW_PASSWORD returns tokens and confirms the user', async () => {
    const out = await t.client.send(new AdminRespondToAuthChallengeCommand({
      UserPoolId: poolId,
      ClientId: clientId,
      ChallengeName: 'NEW_PASSWORD_REQUIRED',
      Session: s.session,
      ChallengeResponses: { USERNAME: email, NEW_PASSWORD: PASSWORD_2, SECRET_HASH: secretHash(clientSecret, email, clientId) },
    }));
    assert.equal(out.ChallengeName, undefined);
    assert.deepEqual(out.ChallengeParameters, {});
    const r = out.AuthenticationResult;
    assert.equal(typeof r.AccessToken, 'string');
    assert.equal(typeof r.IdToken, 'string');
    assert.equal(typeof r.RefreshToken, 'string');
    assert.equal(r.ExpiresIn, 3600);
    assert.equal(r.TokenType, 'Bearer');
    assert.equal(decodeJwt(r.AccessToken).payload.username, s.sub);

    const u = await t.client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: email }));
    assert.equal(u.UserStatus, 'CONFIRMED');
    assert.ok(u.UserLastModifiedDate.getTime() >= u.UserCreateDate.getTime());
  });

  it('the new password signs in with ADMIN_USER_PASSWORD_AUTH and the temporary one no longer does', async () => {
    const ok = await t.client.send(new AdminInitiateAuthCommand({
      UserPoolId: poolId,
      ClientId: clientId,
      AuthFlow: 'ADMIN_USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD: PASSWORD_2, SECRET_HASH: secretHash(clientSecret, email, clientId) },
    }));
    assert.equal(typeof ok.AuthenticationResult?.AccessToken, 'string');
    await expectCognitoError(t.client.send(new AdminInitiateAuthCommand({
      UserPoolId: poolId,
      ClientId: clientId,
      AuthFlow: 'ADMIN_USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD: TEMP, SECRET_HASH: secretHash(clientSecret, email, clientId) },
    })), 'NotAuthorizedException', 'Incorrect username or password.');
  });

  it('AdminCreateUser without MessageAction e-mails the given temporary password', async () => {
    const other = `invited2.${uniq(4)}@example.com`;
    const temp = 'Given-Temp-9!';
    const out = await t.client.send(new AdminCreateUserCommand({
      UserPoolId: poolId,
      Username: other,
      TemporaryPassword: temp,
      UserAttributes: [{ Name: 'email', Value: other }],
    }));
    assert.equal(out.User.UserStatus, 'FORCE_CHANGE_PASSWORD');
    const msg = await waitForMessage(t.endpoint, poolId, other);
    assert.equal(msg.channel, 'EMAIL');
    assert.equal(msg.destination, other);
    assert.ok(msg.message.includes(temp), `the invitation carries the temporary password: ${JSON.stringify(msg.message)}`);
  });

  it('AdminCreateUser without MessageAction or TemporaryPassword e-mails a generated password that works', async () => {
    const other = `invited3.${uniq(4)}@example.com`;
    await t.client.send(new AdminCreateUserCommand({
      UserPoolId: poolId,
      Username: other,
      UserAttributes: [{ Name: 'email', Value: other }],
    }));
    const msg = await waitForMessage(t.endpoint, poolId, other);
    assert.equal(msg.channel, 'EMAIL');
    assert.equal(typeof msg.code, 'string', 'the generated password is the message code');
    assert.ok(msg.message.includes(msg.code), 'the invitation text carries the generated password');
    const out = await t.client.send(new AdminInitiateAuthCommand({
      UserPoolId: poolId,
      ClientId: clientId,
      AuthFlow: 'ADMIN_USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: other, PASSWORD: msg.code, SECRET_HASH: secretHash(clientSecret, other, clientId) },
    }));
    assert.equal(out.ChallengeName, 'NEW_PASSWORD_REQUIRED');
  });
});
