-- Tableau's service user: key-pair authentication only (TYPE = SERVICE users cannot have a password),
-- reachable only from Tableau's addresses (network policy), default and only role BI_READER, no
-- secondary roles. The public key comes from the secret warehouse.infra.tableau.publicKeySecret; Tableau
-- holds the private key. Rotate by setting RSA_PUBLIC_KEY_2 first, then this one.
CREATE OR ALTER NETWORK RULE {{network_rule}}
  TYPE = IPV4 MODE = INGRESS VALUE_LIST = ({{tableau_allowed_ips}})
  COMMENT = 'Addresses Tableau (Cloud egress or Bridge hosts) connects from';

CREATE NETWORK POLICY IF NOT EXISTS {{network_policy}}
  ALLOWED_NETWORK_RULE_LIST = ({{network_rule_name}})
  COMMENT = 'Freshline: Tableau service user';

ALTER NETWORK POLICY {{network_policy}} SET ALLOWED_NETWORK_RULE_LIST = ({{network_rule_name}});

CREATE USER IF NOT EXISTS {{tableau_user}}
  TYPE = SERVICE DEFAULT_ROLE = {{bi_role}} DEFAULT_WAREHOUSE = {{bi_warehouse}} DEFAULT_NAMESPACE = {{bi_namespace}}
  DEFAULT_SECONDARY_ROLES = () RSA_PUBLIC_KEY = {{tableau_public_key}} NETWORK_POLICY = {{network_policy}}
  COMMENT = 'Tableau: reads bi views only';

ALTER USER {{tableau_user}} SET
  DEFAULT_ROLE = {{bi_role}} DEFAULT_WAREHOUSE = {{bi_warehouse}} DEFAULT_NAMESPACE = {{bi_namespace}}
  DEFAULT_SECONDARY_ROLES = () RSA_PUBLIC_KEY = {{tableau_public_key}} NETWORK_POLICY = {{network_policy}};

GRANT ROLE {{bi_role}} TO USER {{tableau_user}};
