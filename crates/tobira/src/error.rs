//! The one error type of tobira. Every failure a caller can see is an [`ApiError`]:
//! a Cognito `__type` name and a message. The protocol layer turns it into bytes.

use std::fmt;

/// Cognito (and, later, IAM/STS) error names. The string is the wire `__type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    AliasExists,
    CodeDeliveryFailure,
    CodeMismatch,
    ConcurrentModification,
    ExpiredCode,
    GroupExists,
    InternalError,
    InvalidLambdaResponse,
    InvalidParameter,
    InvalidPassword,
    InvalidUserPoolConfiguration,
    LimitExceeded,
    NotAuthorized,
    PasswordResetRequired,
    ResourceNotFound,
    SerializationException,
    TooManyFailedAttempts,
    TooManyRequests,
    UnexpectedLambda,
    UnknownOperation,
    UnsupportedOperation,
    UnsupportedTokenType,
    UserLambdaValidation,
    UserNotConfirmed,
    UserNotFound,
    UsernameExists,
    UserPoolTagging,
    InvalidSignature,
    IncompleteSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
    RequestEntityTooLarge,
    AccessDenied,
    ExpiredToken,
    InvalidEmailRoleAccessPolicy,
    InvalidSmsRoleAccessPolicy,
    ScopeDoesNotExist,
    InvalidOAuthFlow,
    SoftwareTokenMfaNotFound,
    EnableSoftwareTokenMfa,
    MfaMethodNotFound,
    DuplicateProvider,
    UnauthorizedException,
    Forbidden,
    InvalidIdentityPoolConfiguration,
    ResourceConflict,
    // IAM and STS (query protocol codes)
    NoSuchEntity,
    EntityAlreadyExists,
    MalformedPolicyDocument,
    InvalidInput,
    DeleteConflict,
    InvalidIdentityToken,
    InvalidAction,
}

impl ErrorKind {
    pub fn type_name(self) -> &'static str {
        use ErrorKind::*;
        match self {
            AliasExists => "AliasExistsException",
            CodeDeliveryFailure => "CodeDeliveryFailureException",
            CodeMismatch => "CodeMismatchException",
            ConcurrentModification => "ConcurrentModificationException",
            ExpiredCode => "ExpiredCodeException",
            GroupExists => "GroupExistsException",
            InternalError => "InternalErrorException",
            InvalidLambdaResponse => "InvalidLambdaResponseException",
            InvalidParameter => "InvalidParameterException",
            InvalidPassword => "InvalidPasswordException",
            InvalidUserPoolConfiguration => "InvalidUserPoolConfigurationException",
            LimitExceeded => "LimitExceededException",
            NotAuthorized => "NotAuthorizedException",
            PasswordResetRequired => "PasswordResetRequiredException",
            ResourceNotFound => "ResourceNotFoundException",
            SerializationException => "SerializationException",
            TooManyFailedAttempts => "TooManyFailedAttemptsException",
            TooManyRequests => "TooManyRequestsException",
            UnexpectedLambda => "UnexpectedLambdaException",
            UnknownOperation => "UnknownOperationException",
            UnsupportedOperation => "UnsupportedOperationException",
            UnsupportedTokenType => "UnsupportedTokenTypeException",
            UserLambdaValidation => "UserLambdaValidationException",
            UserNotConfirmed => "UserNotConfirmedException",
            UserNotFound => "UserNotFoundException",
            UsernameExists => "UsernameExistsException",
            UserPoolTagging => "UserPoolTaggingException",
            InvalidSignature => "InvalidSignatureException",
            IncompleteSignature => "IncompleteSignature",
            MissingAuthenticationToken => "MissingAuthenticationTokenException",
            UnrecognizedClient => "UnrecognizedClientException",
            RequestEntityTooLarge => "RequestEntityTooLargeException",
            AccessDenied => "AccessDeniedException",
            ExpiredToken => "ExpiredTokenException",
            InvalidEmailRoleAccessPolicy => "InvalidEmailRoleAccessPolicyException",
            InvalidSmsRoleAccessPolicy => "InvalidSmsRoleAccessPolicyException",
            ScopeDoesNotExist => "ScopeDoesNotExistException",
            InvalidOAuthFlow => "InvalidOAuthFlowException",
            SoftwareTokenMfaNotFound => "SoftwareTokenMFANotFoundException",
            EnableSoftwareTokenMfa => "EnableSoftwareTokenMFAException",
            MfaMethodNotFound => "MFAMethodNotFoundException",
            DuplicateProvider => "DuplicateProviderException",
            UnauthorizedException => "UnauthorizedException",
            Forbidden => "ForbiddenException",
            InvalidIdentityPoolConfiguration => "InvalidIdentityPoolConfigurationException",
            ResourceConflict => "ResourceConflictException",
            NoSuchEntity => "NoSuchEntity",
            EntityAlreadyExists => "EntityAlreadyExists",
            MalformedPolicyDocument => "MalformedPolicyDocument",
            InvalidInput => "InvalidInput",
            DeleteConflict => "DeleteConflict",
            InvalidIdentityToken => "InvalidIdentityToken",
            InvalidAction => "InvalidAction",
        }
    }

    /// HTTP status. Real Cognito answers 400 for every client error (NotAuthorized included)
    /// and 500 for internal faults; signature problems are 403 as on every AWS JSON service.
    pub fn status(self) -> u16 {
        use ErrorKind::*;
        match self {
            InternalError => 500,
            InvalidSignature | IncompleteSignature | MissingAuthenticationToken | UnrecognizedClient
            | AccessDenied | ExpiredToken => 403,
            RequestEntityTooLarge => 413,
            NoSuchEntity => 404,
            EntityAlreadyExists | DeleteConflict => 409,
            _ => 400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError { kind, message: message.into() }
    }
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter, message)
    }
    pub fn not_authorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotAuthorized, message)
    }
    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceNotFound, message)
    }
    pub fn user_not_found() -> Self {
        Self::new(ErrorKind::UserNotFound, "User does not exist.")
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InternalError, message)
    }
    /// AWS's validation wording: `1 validation error detected: Value null at 'userPoolId' failed to satisfy constraint: Member must not be null`.
    pub fn validation(errors: &[String]) -> Self {
        let n = errors.len();
        let head = if n == 1 { "1 validation error detected".to_string() } else { format!("{n} validation errors detected") };
        Self::invalid_parameter(format!("{head}: {}", errors.join("; ")))
    }
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.type_name(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Conflict(what) => ApiError::new(ErrorKind::ConcurrentModification, what),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal("Internal server error.")
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
