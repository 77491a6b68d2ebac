// PostConfirmation: create a Stripe customer for each confirmed user and keep its id on the
// Cognito user as custom:customerId (seed 000). PostConfirmation rather than PreSignUp, so
// unconfirmed sign-ups make no customers.
import { CognitoIdentityProviderClient, AdminUpdateUserAttributesCommand } from '@aws-sdk/client-cognito-identity-provider';
import Stripe from 'stripe';

// STRIPE_API_URL is only set when testing against a local Stripe stand-in.
function stripeOptions() {
  if (!process.env.STRIPE_API_URL) return {};
  const u = new URL(process.env.STRIPE_API_URL);
  return { host: u.hostname, port: Number(u.port), protocol: u.protocol.replace(':', '') };
}

const stripe = new Stripe(process.env.STRIPE_SECRET_KEY, stripeOptions());
const cognito = new CognitoIdentityProviderClient({});

export const handler = async (event) => {
  if (event.triggerSource !== 'PostConfirmation_ConfirmSignUp') return event;
  const customerParams = {
    name: event.userName,
    metadata: { cognitoUsername: event.userName },
  };
  if (event.request.userAttributes.email) {
    customerParams.email = event.request.userAttributes.email;
  }
  const customer = await stripe.customers.create(customerParams);
  await cognito.send(new AdminUpdateUserAttributesCommand({
    UserPoolId: event.userPoolId,
    Username: event.userName,
    UserAttributes: [{ Name: 'custom:customerId', Value: customer.id }],
  }));
  return event;
};
