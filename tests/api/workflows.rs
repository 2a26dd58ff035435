//! Rules that live below HTTP, tested at the workflow functions themselves: what a workflow
//! writes together, and what it refuses.

use secrecy::SecretString;
use spvault::domain::{
    DisplayName, RefreshToken, Region, Scope, SellerStatus, SellingPartnerId, TenantName,
};
use spvault::workflows::credentials::sellers;
use spvault::workflows::tenancy;
use spvault::workflows::trail::Actor;
use spvault::workflows::Error;
use uuid::Uuid;

use crate::helpers::{refresh_token, spawn_app, World};

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
    let tenant_id = uuid(&world.tenant_id);
    let application_id = uuid(world.application["id"].as_str().unwrap());
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

#[tokio::test]
async fn replacing_a_refresh_token_makes_the_seller_active_and_names_another_tenants_seller_not_found(
) {
    let app = spawn_app().await;
    let acme = app.world("acme").await;
    let globex = app.world("globex").await;
    let token = RefreshToken::parse(&SecretString::from(refresh_token())).unwrap();
    let seller = sellers::replace_refresh_token(
        &app.vault,
        &admin_actor(&acme),
        uuid(&acme.tenant_id),
        uuid(&acme.seller_id),
        &token,
    )
    .await
    .unwrap();
    assert_eq!(seller.status, SellerStatus::Active);

    let answer = sellers::replace_refresh_token(
        &app.vault,
        &admin_actor(&globex),
        uuid(&globex.tenant_id),
        uuid(&acme.seller_id),
        &token,
    )
    .await;
    assert!(matches!(answer, Err(Error::NotFound(_))), "{answer:?}");
}
