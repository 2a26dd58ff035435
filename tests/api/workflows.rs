//! Rules that live below HTTP, tested at the workflow functions themselves: the lock order of
//! credential changes, and what a workflow writes together.

use std::time::Duration;

use secrecy::SecretString;
use spvault::db::locks;
use spvault::domain::{
    ClientSecret, DisplayName, RefreshToken, Region, Scope, SellerStatus, SellingPartnerId,
    TenantName,
};
use spvault::workflows::credentials::{applications, sellers};
use spvault::workflows::tenancy;
use spvault::workflows::trail::Actor;
use spvault::workflows::Error;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::helpers::{client_secret, refresh_token, spawn_app, TestApp, World};

fn uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap()
}

fn admin_actor(world: &World) -> Actor {
    Actor::tenant_key(
        uuid(&world.tenant_id),
        uuid(&world.admin.id),
        "workflow-test",
    )
}

/// The world's ids as the workflows take them.
struct Ids {
    tenant: Uuid,
    seller: Uuid,
    application: Uuid,
}

fn ids(world: &World) -> Ids {
    Ids {
        tenant: uuid(&world.tenant_id),
        seller: uuid(&world.seller_id),
        application: uuid(world.application["id"].as_str().unwrap()),
    }
}

/// Waits until some transaction waits for an advisory lock (a change queued behind an exchange).
async fn until_a_transaction_waits_for_a_lock(pool: &PgPool) {
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_locks where locktype = 'advisory' and not granted",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no transaction ever waited for the exchange's lock");
}

/// Holds the locks an exchange holds for `seller_id` of `application_id` until the returned
/// transaction ends, as an exchange in flight at LWA does.
async fn exchange_in_flight(
    app: &TestApp,
    cache_key: Uuid,
    application_id: Uuid,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = app.pool.begin().await.unwrap();
    locks::lock_exchange(&mut tx, cache_key, application_id)
        .await
        .unwrap();
    tx
}

async fn finished<T>(task: JoinHandle<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the change finishes once the exchange ends")
        .unwrap()
}

#[tokio::test]
async fn replacing_a_refresh_token_waits_for_the_exchange_in_flight() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let Ids {
        tenant,
        seller,
        application,
    } = ids(&world);
    let exchange = exchange_in_flight(&app, seller, application).await;

    let (vault, actor) = (app.vault.clone(), admin_actor(&world));
    let change = tokio::spawn(async move {
        let token = RefreshToken::parse(&SecretString::from(refresh_token())).unwrap();
        sellers::replace_refresh_token(&vault, &actor, tenant, seller, &token).await
    });
    until_a_transaction_waits_for_a_lock(&app.pool).await;
    assert!(
        !change.is_finished(),
        "the replacement must not overtake the exchange"
    );

    exchange.commit().await.unwrap();
    let seller = finished(change).await.unwrap();
    assert_eq!(seller.status, SellerStatus::Active);
}

#[tokio::test]
async fn replacing_a_client_secret_waits_for_every_exchange_with_it() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let Ids {
        tenant,
        seller,
        application,
    } = ids(&world);
    // A seller's exchange shares the application's lock; the replacement needs it alone.
    let exchange = exchange_in_flight(&app, seller, application).await;

    let (vault, actor) = (app.vault.clone(), admin_actor(&world));
    let change = tokio::spawn(async move {
        let secret = ClientSecret::parse(&SecretString::from(client_secret())).unwrap();
        applications::replace_client_secret(&vault, &actor, tenant, application, &secret, None)
            .await
    });
    until_a_transaction_waits_for_a_lock(&app.pool).await;
    assert!(!change.is_finished());

    exchange.commit().await.unwrap();
    finished(change).await.unwrap();
}

#[tokio::test]
async fn a_change_to_another_tenants_seller_takes_no_lock_and_is_not_found() {
    let app = spawn_app().await;
    let acme = app.world("acme").await;
    let globex = app.world("globex").await;
    let acme = ids(&acme);
    let acme_seller = acme.seller;
    // An exchange of acme's seller is in flight: globex must not be able to queue behind it
    // (it would stall acme's exchanges), only to learn that the seller is not its own.
    let _exchange = exchange_in_flight(&app, acme.seller, acme.application).await;
    let token = RefreshToken::parse(&SecretString::from(refresh_token())).unwrap();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        sellers::replace_refresh_token(
            &app.vault,
            &admin_actor(&globex),
            uuid(&globex.tenant_id),
            acme_seller,
            &token,
        ),
    )
    .await
    .expect("another tenant's change does not wait for acme's exchange");
    assert!(matches!(answer, Err(Error::NotFound(_))), "{answer:?}");
}

#[tokio::test]
async fn a_tenant_is_made_with_its_data_key_and_a_first_key_of_every_scope() {
    let app = spawn_app().await;
    let actor = Actor::operator_key(Uuid::now_v7(), "workflow-test");
    let name = TenantName::parse("initech").unwrap();
    let (tenant, key) = tenancy::create_tenant(
        &app.vault,
        &actor,
        &name,
        &DisplayName::parse("admin").unwrap(),
    )
    .await
    .unwrap();

    app.keystore.data_key(tenant.id).await.unwrap();
    let scopes: Vec<&str> = key.row.scopes.iter().map(String::as_str).collect();
    for scope in [Scope::Admin, Scope::Tokens, Scope::Audit] {
        assert!(scopes.contains(&scope.as_str()));
    }
    let actions: Vec<String> =
        sqlx::query_scalar("select action from audit_event where tenant_id = $1 order by id")
            .bind(tenant.id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(actions, ["tenant.created", "api_key.created"]);

    let again = tenancy::create_tenant(
        &app.vault,
        &actor,
        &name,
        &DisplayName::parse("admin").unwrap(),
    )
    .await;
    assert!(matches!(again, Err(Error::Conflict(_))));
}

#[tokio::test]
async fn an_import_stores_every_seller_with_its_own_event() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let batch: Vec<sellers::ImportedSeller> = (0..3)
        .map(|i| sellers::ImportedSeller {
            selling_partner_id: SellingPartnerId::parse(&format!("AIMPORT{i:05}")).unwrap(),
            region: Region::Eu,
            refresh_token: RefreshToken::parse(&SecretString::from(refresh_token())).unwrap(),
        })
        .collect();
    let Ids {
        tenant: tenant_id,
        application: application_id,
        ..
    } = ids(&world);
    let imported = sellers::import(
        &app.vault,
        &admin_actor(&world),
        tenant_id,
        application_id,
        &batch,
    )
    .await
    .unwrap();

    assert_eq!(imported.len(), 3);
    for id in &imported {
        let seller = sellers::get(&app.vault, tenant_id, *id).await.unwrap();
        assert_eq!(seller.region, "eu");
        let events: i64 = sqlx::query_scalar(
            "select count(*) from audit_event where action = 'seller.created' and resource_id = $1",
        )
        .bind(id.to_string())
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(events, 1);
    }
    // The same selling partners again: refused whole, nothing half-imported.
    let again = sellers::import(
        &app.vault,
        &admin_actor(&world),
        tenant_id,
        application_id,
        &batch,
    )
    .await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
}
