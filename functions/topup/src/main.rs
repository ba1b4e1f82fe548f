//! `credits-topup`: top-ups (`POST /v1/accounts/{account}/topups`). API Gateway sends only
//! that route here (infra/template.yaml); the router is the one every function and
//! `credits serve` run.

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    credits_lambda::init_tracing();
    // Once per container, never per request: settings, the embedded rate books
    // (checked), the AWS config, the DynamoDB client and the store.
    let state = credits_lambda::app_state(&credits_lambda::Settings::from_env()?).await?;
    lambda_http::run(credits_lambda::http_router(state)).await
}
