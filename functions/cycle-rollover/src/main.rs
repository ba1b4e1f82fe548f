//! `credits-cycle-rollover`: on a schedule, advances the idle accounts that have something
//! due (expiries, grants, cycle statements, alerts). See `credits_lambda::rollover`.

use lambda_http::Error;
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    credits_lambda::init_tracing();
    // Once per container, never per invocation (BRIEF §7).
    let state = credits_lambda::app_state(&credits_lambda::Settings::from_env()?).await?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        credits_lambda::rollover::handle(event, state).await
    }))
    .await
}
