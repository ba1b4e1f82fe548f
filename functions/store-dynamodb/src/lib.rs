//! credits-store-dynamodb
